"""Benchmark: gfxnn's GPU path (Warp kernels) against PyTorch on the same GPU (issue 8).

Both sides run the same maths as the CPU benchmark (benchmarks/fit_cpu.py): each step draws
`batch` uniform random UVs on the device, takes the nearest texels as targets, encodes them
(frequency, 8 octaves -> 32 features), runs the MLP with leaky ReLU (0.01) after every layer,
MSE, Adam (1e-3, 0.9, 0.999, 1e-8), from the same Xavier weights.

PyTorch variants: eager fp32, CUDA graph fp32 (torch.cuda.graph, capturable fused Adam), and the
same two under fp16 autocast with a static loss scale (fp32 master weights). gfxnn: the step
captured as a CUDA graph, fp32 and fp16 (float16 operands, float32 accumulation, loss-scaled
gradients, fp32 master weights), for each `--tile-rows` value.
Timing: CUDA events around `--steps` steps, after warm-up (compilation, capture), `--repeats`
times; the figures are medians in ms per step.

Cases (issue 8): (a) Dx12NN's default network at batch 2048 and 65536; (b) 4 hidden layers of
64 at batch 2^18; (c) full-frame inference 512x512 and 2048x2048; (d) hash-grid fitting is
not on the GPU path yet and is reported as such. Before timing, a correctness check runs the
GPU kernels against the NumPy fused path (3 Adam steps) and a quality check compares the PSNR
after the same number of steps with the CPU fitter.

    python benchmarks/gpu.py                       # on a CUDA machine; writes --json
    python benchmarks/gpu.py --cases a --tile-rows 32,64 --steps 100
    python benchmarks/gpu.py --cpu-smoke           # no GPU: a few steps on Warp's CPU device
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from gfxnn.data.images import load_bundled
from gfxnn.imagefit import FitSettings, ImageFitter

DEFAULT = FitSettings()  # Dx12NN: frequency 8, 32 -> 64 -> 64 -> 3, leaky ReLU, Adam 1e-3
DEEP = dataclasses.replace(DEFAULT, n_layers=6)  # 4 hidden layers of 64
LOSS_SCALE = 1024.0  # static fp16 loss scale of the PyTorch fp16 variants


@dataclasses.dataclass
class Row:
    case: str
    variant: str
    ms: float
    samples_per_s: float
    note: str = ""


# ----- gfxnn ---------------------------------------------------------------------------
def time_gfxnn_training(
    image: np.ndarray,
    settings: FitSettings,
    batch: int,
    device: str,
    tile_rows: int,
    mathdx: bool,
    precision: str,
    steps: int,
    repeats: int,
) -> tuple[float, float]:
    """(median ms per step, seconds of warm-up including compilation)."""
    import warp as wp

    from gfxnn.gpu.trainer import GpuTrainer

    start = time.perf_counter()
    trainer = GpuTrainer(
        settings,
        image,
        device=device,
        tile_rows=tile_rows,
        loss_slots=max(steps * repeats + 16, 1024),
        mathdx=mathdx,
        precision=precision,
    )
    trainer.train(3, batch)  # compiles, captures the graph
    wp.synchronize_device(device)
    warm_up = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        times.append(_timed(lambda: trainer.train(steps, batch), device) / steps)
    losses = trainer.read_losses()
    if not all(math.isfinite(v) for v in losses):
        raise RuntimeError(f"gfxnn training produced a non-finite loss ({losses[-3:]})")
    return statistics.median(times), warm_up


def time_gfxnn_inference(
    settings: FitSettings, size: int, device: str, mathdx: bool, precision: str, repeats: int
) -> float:
    import warp as wp

    from gfxnn.gpu.trainer import GpuTrainer

    trainer = GpuTrainer(settings, device=device, mathdx=mathdx, precision=precision)
    out = wp.empty((size * size, 3), dtype=wp.float32, device=device)
    trainer.launch_render(size, size, out)
    wp.synchronize_device(device)
    n = 10 if device != "cpu" else 1
    return statistics.median(
        _timed(lambda: [trainer.launch_render(size, size, out) for _ in range(n)], device) / n
        for _ in range(repeats)
    )


def _timed(work: Callable[[], Any], device: str) -> float:
    """Milliseconds of `work` measured with device events (wall clock on the CPU device)."""
    import warp as wp

    if device == "cpu":
        start = time.perf_counter()
        work()
        return 1e3 * (time.perf_counter() - start)
    begin = wp.Event(device, enable_timing=True)
    end = wp.Event(device, enable_timing=True)
    wp.record_event(begin)
    work()
    wp.record_event(end)
    wp.synchronize_event(end)
    return float(wp.get_event_elapsed_time(begin, end))


# ----- PyTorch -----------------------------------------------------------------------------
class TorchFit:
    """The same training step in PyTorch on `device` (fp32 or fp16 autocast)."""

    def __init__(
        self, image: np.ndarray, settings: FitSettings, params: dict[str, np.ndarray], **kw: Any
    ) -> None:
        import torch

        self.torch = torch
        self.device = torch.device(kw["device"])
        self.fp16 = kw.get("fp16", False)
        self.batch = kw["batch"]
        self.height, self.width = image.shape[:2]
        self.texels = torch.from_numpy(np.ascontiguousarray(image.reshape(-1, 3))).to(self.device)
        frequencies = np.pi * 2.0 ** np.arange(settings.n_frequencies)
        self.frequencies = torch.from_numpy(frequencies.astype(np.float32)).to(self.device)
        layers: list[Any] = []
        n_layers = len([k for k in params if k.endswith(".weight")])
        for i in range(n_layers):
            weight = params[f"layers.{i}.weight"]
            linear = torch.nn.Linear(weight.shape[1], weight.shape[0])
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(weight))
                linear.bias.copy_(torch.from_numpy(params[f"layers.{i}.bias"]))
            layers += [linear, torch.nn.LeakyReLU(0.01)]
        self.net = torch.nn.Sequential(*layers).to(self.device)
        cuda = self.device.type == "cuda"
        self.optimizer = torch.optim.Adam(
            self.net.parameters(),
            lr=settings.learning_rate,
            betas=(settings.beta1, settings.beta2),
            eps=settings.epsilon,
            capturable=cuda,
            fused=cuda,
        )
        self.loss = torch.zeros((), device=self.device)

    def encode(self, uv: Any) -> Any:
        phase = uv[:, :, None] * self.frequencies  # (n, 2, F)
        return self.torch.stack((phase.sin(), phase.cos()), dim=-1).reshape(uv.shape[0], -1)

    def step(self) -> None:
        torch = self.torch
        uv = torch.rand(self.batch, 2, device=self.device)
        x = torch.clamp((uv[:, 0] * self.width).long(), max=self.width - 1)
        y = torch.clamp((uv[:, 1] * self.height).long(), max=self.height - 1)
        target = self.texels[y * self.width + x]
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.fp16):
            output = self.net(self.encode(uv))
        loss = ((output.float() - target) ** 2).mean()
        if self.fp16:
            (loss * LOSS_SCALE).backward()
            grads = [p.grad for p in self.net.parameters()]
            torch._foreach_mul_(grads, 1.0 / LOSS_SCALE)
        else:
            loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=False)
        self.loss.copy_(loss.detach())

    def infer(self, uv_features: Any) -> Any:
        torch = self.torch
        with (
            torch.no_grad(),
            torch.autocast(self.device.type, dtype=torch.float16, enabled=self.fp16),
        ):
            return self.net(self.encode(uv_features))


def _torch_graph(step: Callable[[], Any], torch: Any) -> Callable[[], None]:
    """Capture `step` as a CUDA graph (after warm-up on a side stream, as torch's docs do)."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    return graph.replay


def _torch_timed(work: Callable[[], Any], torch: Any, cuda: bool) -> float:
    if not cuda:
        start = time.perf_counter()
        work()
        return 1e3 * (time.perf_counter() - start)
    begin = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    begin.record()
    work()
    end.record()
    end.synchronize()
    return float(begin.elapsed_time(end))


def time_torch_training(
    image: np.ndarray,
    settings: FitSettings,
    params: dict[str, np.ndarray],
    batch: int,
    device: str,
    fp16: bool,
    graph: bool,
    steps: int,
    repeats: int,
) -> float:
    import torch

    fit = TorchFit(image, settings, params, device=device, batch=batch, fp16=fp16)
    run = _torch_graph(fit.step, torch) if graph else fit.step
    for _ in range(3):
        run()
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()

    def work() -> None:
        for _ in range(steps):
            run()

    times = [_torch_timed(work, torch, cuda) / steps for _ in range(repeats)]
    if not math.isfinite(float(fit.loss)):
        raise RuntimeError("PyTorch training produced a non-finite loss")
    return statistics.median(times)


def time_torch_inference(
    settings: FitSettings,
    params: dict[str, np.ndarray],
    size: int,
    device: str,
    fp16: bool,
    graph: bool,
    repeats: int,
) -> float:
    import torch

    dummy = np.zeros((1, 1, 3), np.float32)
    fit = TorchFit(dummy, settings, params, device=device, batch=1, fp16=fp16)
    axis = torch.arange(size, device=fit.device, dtype=torch.float32) / max(size - 1, 1)
    uv = torch.stack(torch.meshgrid(axis, axis, indexing="xy"), dim=-1).reshape(-1, 2)
    out: dict[str, Any] = {}

    def infer() -> None:
        out["image"] = fit.infer(uv)

    run = _torch_graph(infer, torch) if graph else infer
    run()
    cuda = device.startswith("cuda")
    n = 10 if cuda else 1
    return statistics.median(
        _torch_timed(lambda: [run() for _ in range(n)], torch, cuda) / n for _ in range(repeats)
    )


# ----- checks --------------------------------------------------------------------------------
def check_against_fused(
    device: str, batch: int, tile_rows: int, mathdx: bool, precision: str
) -> dict[str, float]:
    """Relative differences of loss, gradients and weights after 3 Adam steps, Warp kernels vs
    the NumPy fused path, on identical batches (the test suite's check, on this device)."""
    from gfxnn.fused import FusedMLP, FusedTrainer, make_encoder, make_optimizer
    from gfxnn.gpu.trainer import GpuTrainer

    settings = dataclasses.replace(DEFAULT, batch_size=batch)
    trainer = GpuTrainer(
        settings, device=device, tile_rows=tile_rows, mathdx=mathdx, precision=precision
    )
    encoder = make_encoder("frequency", settings.n_frequencies)
    mlp = FusedMLP(encoder.n_output_dims, 3, 64, 2, settings.activation)
    mlp.initialize(np.random.default_rng(settings.seed))
    fused = FusedTrainer(encoder, mlp, make_optimizer("adam", mlp.params, mlp.grads, 1e-3))
    rng = np.random.default_rng(5)
    worst = {"loss": 0.0, "gradients": 0.0, "weights": 0.0}
    for _ in range(3):
        uv = rng.random((batch, 2), dtype=np.float32)
        target = rng.random((batch, 3), dtype=np.float32)
        ours, theirs = trainer.compute_gradients(uv, target), fused.compute_gradients(uv, target)
        worst["loss"] = max(worst["loss"], abs(ours - theirs) / abs(theirs))
        worst["gradients"] = max(worst["gradients"], _relative(trainer.gradients(), mlp.grads))
        trainer.update()
        fused.update()
    worst["weights"] = _relative(trainer.parameters(), mlp.params)
    return worst


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a.astype(np.float64) - b) / np.linalg.norm(b.astype(np.float64)))


def check_quality(
    image: np.ndarray, device: str, steps: int, mathdx: bool, tile_rows: int
) -> dict[str, float]:
    """PSNR (dB) after `steps` default steps on the CPU fused path and the GPU path in each
    precision."""
    from gfxnn.gpu.fitter import GpuImageFitter

    cpu = ImageFitter(image, DEFAULT)
    cpu.step(steps)
    result = {"steps": steps, "psnr_cpu": cpu.psnr()}
    for precision in ("fp32", "fp16"):
        fitter = GpuImageFitter(
            image, DEFAULT, device=device, precision=precision, tile_rows=tile_rows, mathdx=mathdx
        )
        fitter.step(steps)
        result[f"psnr_gpu_{precision}"] = fitter.psnr()
    return result


# ----- driver ----------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> list[Row]:
    device = "cpu" if args.cpu_smoke else "cuda"
    torch_device = "cpu" if args.cpu_smoke else "cuda"
    image = load_bundled("astronaut")
    if args.cpu_smoke:
        image = image[:32, :32]
    params = ImageFitter(image, DEFAULT).state_dict()
    deep_params = ImageFitter(image, DEEP).state_dict()
    scale = args.batch_scale
    rows: list[Row] = []
    torch_variants = [("eager", False, False), ("eager fp16", True, False)]
    if not args.cpu_smoke:
        torch_variants += [("graph", False, True), ("graph fp16", True, True)]

    def training_case(case: str, settings: FitSettings, weights: dict, batch: int) -> None:
        batch = max(1, batch // scale)
        for tile_rows, mathdx, precision in itertools.product(
            args.tile_rows, args.mathdx, args.precision
        ):
            ms, warm = time_gfxnn_training(
                image,
                settings,
                batch,
                device,
                tile_rows,
                mathdx,
                precision,
                args.steps,
                args.repeats,
            )
            name = f"gfxnn graph {precision} rows={tile_rows}" + ("" if mathdx else " simt")
            rows.append(Row(case, name, ms, 1e3 * batch / ms, f"warm-up {warm:.0f} s"))
            print(f"  {case}: {name}: {ms:.4f} ms/step (warm-up {warm:.1f} s)", flush=True)
        for name, fp16, graph in torch_variants:
            ms = time_torch_training(
                image, settings, weights, batch, torch_device, fp16, graph, args.steps, args.repeats
            )
            rows.append(Row(case, f"torch {name}", ms, 1e3 * batch / ms))
            print(f"  {case}: torch {name}: {ms:.4f} ms/step", flush=True)

    def inference_case(case: str, size: int) -> None:
        size = max(2, size // scale)
        for mathdx, precision in itertools.product(args.mathdx, args.precision):
            ms = time_gfxnn_inference(DEFAULT, size, device, mathdx, precision, args.repeats)
            name = f"gfxnn {precision}" + ("" if mathdx else " simt")
            rows.append(Row(case, name, ms, 1e3 * size * size / ms))
            print(f"  {case}: {name}: {ms:.4f} ms/frame", flush=True)
        for name, fp16, graph in torch_variants:
            ms = time_torch_inference(
                DEFAULT, params, size, torch_device, fp16, graph, args.repeats
            )
            rows.append(Row(case, f"torch {name}", ms, 1e3 * size * size / ms))
            print(f"  {case}: torch {name}: {ms:.4f} ms/frame", flush=True)

    if "a" in args.cases:
        training_case("(a) default, batch 2048", DEFAULT, params, 2048)
        training_case("(a) default, batch 65536", DEFAULT, params, 65536)
    if "b" in args.cases:
        training_case("(b) 64x4, batch 2^18", DEEP, deep_params, 2**18)
    if "c" in args.cases:
        inference_case("(c) inference 512x512", 512)
        inference_case("(c) inference 2048x2048", 2048)
    if "d" in args.cases:
        rows.append(Row("(d) hash grid 2048^2 to 35 dB", "gfxnn", math.nan, math.nan, "not built"))
    return rows


def _precompile(args: argparse.Namespace, device: str) -> None:
    """Compile every Warp module the chosen cases need, in parallel threads (CUDA compilation
    with cuBLASDx takes minutes per module; one at a time they would not fit a lease)."""
    from gfxnn.gpu.trainer import GpuTrainer, precompile

    networks = [DEFAULT]  # the checks and cases (a), (c)
    networks += [DEEP] if "b" in args.cases else []
    trainers = [
        GpuTrainer(settings, device=device, tile_rows=rows, mathdx=mathdx, precision=precision)
        for settings in networks
        for rows, mathdx, precision in itertools.product(
            args.tile_rows, args.mathdx, args.precision
        )
    ]
    start = time.perf_counter()
    precompile(trainers)
    print(f"compiled {len(trainers)} network variants in {time.perf_counter() - start:.0f} s")


def table(rows: list[Row]) -> str:
    """Markdown table: per case, each variant's ms and samples/s, and torch ms / gfxnn ms
    against the case's fastest gfxnn variant."""
    lines = [
        "| case | variant | ms | samples/s | speed-up of gfxnn | note |",
        "|---|---|---|---|---|---|",
    ]
    for case in dict.fromkeys(row.case for row in rows):
        group = [row for row in rows if row.case == case]
        ours = [row.ms for row in group if row.variant.startswith("gfxnn") and row.ms == row.ms]
        best = min(ours) if ours else math.nan
        for row in group:
            ratio = row.ms / best if not row.variant.startswith("gfxnn") else math.nan
            lines.append(
                f"| {case} | {row.variant} | {row.ms:.4f} | {row.samples_per_s:.3g} | "
                f"{'' if math.isnan(ratio) else f'{ratio:.2f}x'} | {row.note} |"
            )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="abcd", help="which of the cases a, b, c, d to run")
    parser.add_argument("--steps", type=int, default=200, help="training steps per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tile-rows", default="64", help="comma-separated rows per block")
    parser.add_argument(
        "--mathdx", default="both", choices=["on", "off", "both"], help="cuBLASDx tile GEMM"
    )
    parser.add_argument("--precision", default="fp32,fp16", help="gfxnn precisions to time")
    parser.add_argument("--quality-steps", type=int, default=2000, help="0 skips the check")
    parser.add_argument("--json", default=None, help="write the rows and checks here")
    parser.add_argument(
        "--cpu-smoke",
        action="store_true",
        help="no GPU needed: run everything tiny on Warp's CPU device and PyTorch CPU eager",
    )
    args = parser.parse_args(argv)
    args.tile_rows = [int(v) for v in args.tile_rows.split(",")]
    args.precision = args.precision.split(",")
    args.mathdx = {"on": [True], "off": [False], "both": [False, True]}[args.mathdx]
    args.batch_scale = 1
    if args.cpu_smoke:
        args.steps, args.repeats, args.batch_scale = 2, 1, 256
        args.mathdx = [True]  # the CPU ignores it; one build per network is enough
        args.quality_steps = min(args.quality_steps, 5)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from gfxnn import gpu

    if not args.cpu_smoke and not gpu.available():
        print(
            "benchmarks/gpu.py needs a CUDA GPU visible to NVIDIA Warp (pip install 'gfxnn[gpu]'"
            " and a CUDA driver); none was found. Use --cpu-smoke to exercise the script on "
            "Warp's CPU device.",
            file=sys.stderr,
        )
        return 2
    device = "cpu" if args.cpu_smoke else "cuda"
    print(f"device: {gpu.device_name(device)}", flush=True)
    report: dict[str, Any] = {"device": gpu.device_name(device)}
    _precompile(args, device)
    report["agreement"] = {}
    for rows, mathdx, precision in itertools.product(args.tile_rows, args.mathdx, args.precision):
        name = f"{precision} rows={rows}" + ("" if mathdx else " simt")
        batch = 100 if args.cpu_smoke else 2048
        report["agreement"][name] = check_against_fused(device, batch, rows, mathdx, precision)
        print(f"agreement with the NumPy path, {name}: {report['agreement'][name]}", flush=True)
    if args.quality_steps:
        image = load_bundled("astronaut")
        image = image[:32, :32] if args.cpu_smoke else image
        for mathdx in args.mathdx:
            quality = check_quality(image, device, args.quality_steps, mathdx, args.tile_rows[0])
            report[f"quality{'' if mathdx else ' simt'}"] = quality
            print(f"PSNR (dB){'' if mathdx else ', simt'}: {quality}", flush=True)
    rows = run(args)
    report["rows"] = [dataclasses.asdict(row) for row in rows]
    if args.json:
        with open(args.json, "w") as file:
            json.dump(report, file, indent=1)
    print()
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
