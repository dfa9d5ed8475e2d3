"""`gfxnn bench`: the flagship's training speed, gfxnn against PyTorch eager, side by side.

Dx12NN's default fit (batch 2048 of random UVs, frequency encoding with 8 octaves, MLP
32 -> 64 -> 64 -> 3 with leaky ReLU, MSE, Adam 1e-3) on the bundled astronaut, trained by gfxnn
on `--device` and by the same maths in PyTorch eager (`gfxnn.apps.torch_fit`) when PyTorch is
installed. Timed repeats alternate between the two so both see the same machine load; the
figures are medians, the ratio the median of the pairwise ratios. Each library's repeats
last about `--repeat-seconds` (its step count is calibrated after the warm-up), so the default
(5 repeats of about 1 s each) takes well under a minute on two cores, however loaded.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

from gfxnn.apps.command import (
    EXIT_OK,
    UsageError,
    check_output_file,
    nonempty_path,
    positive_float,
    positive_int,
    print_error,
    print_result,
)
from gfxnn.apps.devices import DEVICES, make_fitter

__all__ = [
    "DEVICES",
    "HELP",
    "add_arguments",
    "alternate",
    "cpu_model",
    "format_results",
    "measure",
    "run",
]

HELP = "time the flagship fit: gfxnn against PyTorch eager, side by side"


def alternate(runs: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[float]]:
    """Seconds per call of each callable, interleaved repeat by repeat (same load for all)."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, call in runs.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return times


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux, else what the platform module knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                    return " ".join(value.split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _torch() -> Any | None:
    try:
        import torch
    except ImportError:
        return None
    return torch


def _device_name(device: str) -> str:
    if device == "cpu":
        return f"cpu: {cpu_model()} ({_usable_cpus()} of {os.cpu_count()} logical CPUs usable)"
    if device == "webgpu":
        from gfxnn.webgpu import get_gpu

        return f"webgpu: {get_gpu().name}"
    from gfxnn import gpu

    return f"{device}: {gpu.device_name(device)}"


def _torch_device(torch: Any, device: str) -> str | None:
    """Where the PyTorch baseline runs beside gfxnn on `device`, None when it cannot: the
    same device for cpu and cuda; for webgpu (PyTorch has no WebGPU) the CUDA GPU when this
    PyTorch sees one, else the CPU."""
    cuda = bool(torch.cuda.is_available())
    if device == "webgpu":
        return "cuda" if cuda else "cpu"
    return device if device == "cpu" or cuda else None


def measure(
    device: str = "cpu",
    steps: int | None = None,
    repeats: int = 5,
    warmup: int = 10,
    threads: int | None = None,
    batch_size: int | None = None,
    with_torch: bool = True,
    repeat_seconds: float = 1.0,
) -> dict[str, Any]:
    """Train Dx12NN's default fit with gfxnn (and PyTorch when installed) and time it.

    Args:
        device: "cpu", "cuda" or "webgpu" (resolved; see `run` for "auto").
        steps: training steps per timed repeat; None: calibrated per library so that one
            repeat lasts about `repeat_seconds`.
        repeats: timed repeats of each library, alternating.
        warmup: untimed steps first (buffers, BLAS threads, kernels).
        threads: None: each library's own default (gfxnn's fused path trains with one BLAS
            thread, PyTorch with torch.get_num_threads()); N: both use N threads.
        batch_size: None: Dx12NN's 2048.
        with_torch: False skips PyTorch even when it is installed.
        repeat_seconds: how long one repeat lasts when `steps` is None.

    Returns:
        a JSON-able dict: device, threads, load averages, and per library steps/s (median)
        and steps per repeat; `ratio` is gfxnn's speed over PyTorch's (median of the pairwise
        ratios), None without PyTorch.
    """
    from gfxnn.data.images import load_bundled
    from gfxnn.imagefit import FitSettings

    torch = _torch() if with_torch else None
    torch_device = None if torch is None else _torch_device(torch, device)
    image = load_bundled("astronaut")
    settings = FitSettings() if batch_size is None else FitSettings(batch_size=batch_size)
    load_before = os.getloadavg()
    torch_default_threads = torch.get_num_threads() if torch is not None else None
    try:
        if torch is not None and threads is not None:
            torch.set_num_threads(threads)
        fitter = make_fitter(image, settings, device, blas_threads=threads or 1)
        trainers: dict[str, Any] = {"gfxnn": fitter}
        if torch_device is not None:
            from gfxnn.apps.torch_fit import TorchFit

            trainers["torch"] = TorchFit(image, fitter, settings, device=torch_device)
        counts = {}
        for name, trainer in trainers.items():
            trainer.step(warmup)
            counts[name] = steps or _calibrate(trainer, repeat_seconds)
        times = alternate(
            {name: functools.partial(t.step, counts[name]) for name, t in trainers.items()},
            repeats,
        )
        torch_threads = torch.get_num_threads() if torch is not None else None
    finally:
        if torch is not None and torch_default_threads is not None:
            torch.set_num_threads(torch_default_threads)
    libraries = {
        name: {
            "steps_per_second": counts[name] / statistics.median(t),
            "steps_per_repeat": counts[name],
        }
        for name, t in times.items()
    }
    ratio = None
    if "torch" in times:
        rates = {name: [counts[name] / s for s in t] for name, t in times.items()}
        pairs = zip(rates["gfxnn"], rates["torch"], strict=True)
        ratio = statistics.median(gfxnn_rate / torch_rate for gfxnn_rate, torch_rate in pairs)
    return {
        "device": device,
        "device_name": _device_name(device),
        "settings": f"Dx12NN's defaults: batch {settings.batch_size}, frequency encoding "
        f"{settings.n_frequencies} octaves, {settings.n_layers} layers x {settings.n_neurons}, "
        f"{settings.activation}, MSE, Adam {settings.learning_rate:g}",
        "repeats": repeats,
        # The WebGPU trainer does its maths in shaders: its BLAS thread setting means nothing.
        "gfxnn_blas_threads": None if device == "webgpu" else getattr(fitter, "blas_threads", None),
        "torch_threads": torch_threads,
        "torch": None if torch is None else torch.__version__,
        "torch_device": torch_device,
        "torch_note": None if torch_device is not None else _torch_note(torch, device),
        "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
        "libraries": libraries,
        "ratio": ratio,
    }


def _calibrate(trainer: Any, seconds: float) -> int:
    """Steps that take about `seconds` on `trainer`, from a few timed steps."""
    probe = 3
    start = time.perf_counter()
    trainer.step(probe)
    per_step = max((time.perf_counter() - start) / probe, 1e-6)
    return int(min(max(round(seconds / per_step), 1), 100_000))


def _torch_note(torch: Any | None, device: str) -> str:
    if torch is None:
        return "PyTorch is not installed (pip install torch==2.13.0): gfxnn alone"
    return f"this PyTorch ({torch.__version__}) has no {device} device: gfxnn alone"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare `gfxnn bench`'s arguments on `parser`."""
    parser.description = __doc__.split("\n\n", 1)[1].replace("\n", " ").strip()
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="where gfxnn trains: cpu, cuda (the Warp GPU path), webgpu (WGSL compute shaders "
        "on a WebGPU adapter, beside PyTorch on CUDA when present, else on the CPU), or auto: "
        "cuda when a CUDA GPU is present, else cpu (auto)",
    )
    parser.add_argument(
        "--steps",
        metavar="N",
        type=positive_int,
        default=None,
        help="steps per timed repeat (default: as many as take --repeat-seconds)",
    )
    parser.add_argument(
        "--repeat-seconds",
        metavar="T",
        type=positive_float,
        default=1.0,
        help="length of one timed repeat when --steps is not given (1.0)",
    )
    parser.add_argument(
        "--repeats", metavar="R", type=positive_int, default=5, help="timed repeats (5)"
    )
    parser.add_argument(
        "--warmup", metavar="N", type=positive_int, default=10, help="untimed steps first (10)"
    )
    parser.add_argument(
        "--threads",
        metavar="N",
        type=positive_int,
        default=None,
        help="both libraries use N CPU threads (default: each library's own default)",
    )
    parser.add_argument(
        "--batch-size", metavar="B", type=positive_int, default=None, help="(Dx12NN's 2048)"
    )
    parser.add_argument("--no-torch", action="store_true", help="time gfxnn alone")
    parser.add_argument(
        "--json", metavar="FILE", type=nonempty_path, default=None, help="also write the results"
    )


def run(args: argparse.Namespace) -> int:
    """`gfxnn bench`: measure, print the table, optionally write JSON; returns the exit code."""
    from gfxnn.apps.devices import resolve_device
    from gfxnn.imagefit import FitSettings
    from gfxnn.io import atomic_write_json

    if args.batch_size is not None:
        try:
            FitSettings(batch_size=args.batch_size).validate()
        except ValueError as error:
            raise UsageError(error) from None
    if args.json is not None:  # before minutes of measuring, not after
        check_output_file(args.json, "--json")
    device, notice = resolve_device(args.device, FitSettings(), "gfxnn bench")
    if notice:
        print_error(notice)
    results = measure(
        device,
        steps=args.steps,
        repeats=args.repeats,
        warmup=args.warmup,
        threads=args.threads,
        batch_size=args.batch_size,
        with_torch=not args.no_torch,
        repeat_seconds=args.repeat_seconds,
    )
    print_result(format_results(results))
    if args.json is not None:
        try:
            atomic_write_json(args.json, results)
        except OSError as error:
            raise UsageError(f"cannot write {args.json}: {error.strerror or error}") from None
        print_result(f"wrote {args.json}")
    return EXIT_OK


def format_results(results: dict[str, Any]) -> str:
    """The results as aligned `key: value` lines and one table row per library."""
    load = results["load_average"]
    threads = f"gfxnn BLAS {results['gfxnn_blas_threads'] or 'n/a'}"
    threads += f", torch {results['torch_threads']}" if results["torch_threads"] else ""
    lines = [
        f"device:   {results['device_name']}",
        f"threads:  {threads}",
        f"fit:      {results['settings']}",
        f"timing:   median of {results['repeats']} repeats each, repeats alternating",
        f"load:     {load['before'][0]:.2f} before, {load['after'][0]:.2f} after (1-min average)",
        "",
        f"{'library':<8} {'steps/s':>10} {'steps/repeat':>13}",
    ]
    for name, row in results["libraries"].items():
        lines.append(f"{name:<8} {row['steps_per_second']:>10.1f} {row['steps_per_repeat']:>13d}")
    lines.append("")
    if results["ratio"] is None:
        lines.append(f"ratio:    n/a ({results['torch_note']})")
    else:
        where = results.get("torch_device")
        beside = f", torch on {where}" if where not in (None, results["device"]) else ""
        lines.append(f"ratio:    {results['ratio']:.2f} (gfxnn steps/s over torch steps/s{beside})")
    return "\n".join(lines) + "\n"
