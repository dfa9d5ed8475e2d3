"""`gfxnn fit --example ...`: MLPZen's examples and presets on the command line.

`--example cosine|image|four-images|bubbles|volume` (default image), `--volume FILE.npy` (the
volume example's array; implies --example volume), `--z-plane Z` (the slice bubbles and
volume are drawn at, 0.5 by default), `--preset dx12nn|mlpzen` (that app's defaults for the
example; options given explicitly override them). Every conflict is one line, exit 2, before
anything is written. The examples other than image train on the CPU (`--cpu-backend`) or on
WebGPU (`--device webgpu`; `auto` means the CPU for them, `cuda` is refused).

Outputs of an example run are the image run's files (`gfxnn.apps.fit.OUTPUT_FILES`), drawn by
`gfxnn.fields.display`: reference.png and prediction.png are the example's frames (cosine:
the plots, four-images: the 2x2 composites, bubbles/volume: the slice at --z-plane),
comparison.png puts them side by side; metrics.json adds "example", "frame_psnr" (of what the
PNGs show) and, for four images, "networks" (each network's PSNR and last loss); the
checkpoint's config records the example ("example": name, input/output sizes, grid, source).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gfxnn.apps.command import UsageError, number

__all__ = [
    "CLI_EXAMPLES",
    "add_example_arguments",
    "build_model",
    "example_config",
    "example_from_args",
    "load_targets",
    "settings_for",
    "write_example_frames",
]

CLI_EXAMPLES = ("cosine", "image", "four-images", "bubbles", "volume")
"""--example's spellings: `gfxnn.fields.examples.EXAMPLES` with a dash."""
_SLICED = ("bubbles", "volume")


def _z_plane(text: str) -> float:
    """argparse type: a number in [0, 1]."""
    value = number(text)
    if not 0.0 <= value <= 1.0:  # NaN fails both
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {text}")
    return value


def add_example_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare --example, --volume, --z-plane and --preset."""
    parser.add_argument(
        "--example",
        choices=CLI_EXAMPLES,
        default=None,
        help="what to learn (MLPZen's examples): cosine (x -> (cos 2 pi x + 1) / 2), image "
        "(IMAGE or --image-name), four-images (four networks, one per bundled image, shown "
        "2x2), bubbles (RGB of 9 spheres in 3-D), volume (--volume FILE.npy) (image)",
    )
    parser.add_argument(
        "--volume",
        metavar="FILE.npy",
        type=_npy_path,
        default=None,
        help="the volume example's array: .npy of shape (D, H, W) or (D, H, W, C), C in 1..4, "
        "float in [0, 1], uint8 or uint16; implies --example volume",
    )
    parser.add_argument(
        "--z-plane",
        metavar="Z",
        type=_z_plane,
        default=None,
        help="bubbles and volume: the z in [0, 1] of the slice drawn in the PNGs (0.5)",
    )
    parser.add_argument(
        "--preset",
        choices=("dx12nn", "mlpzen"),
        default=None,
        help="start from Dx12NN's defaults or MLPZen's for the example (options given "
        "override them; not with --config) (default: Dx12NN's)",
    )


def _npy_path(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must name a .npy file, got {text!r}")
    return Path(text)


def example_from_args(args: argparse.Namespace) -> str:
    """The example (library spelling, e.g. "four_images") of `args`; UsageError for options
    that do not go together."""
    example = args.example.replace("-", "_") if args.example else None
    if args.volume is not None:
        if example not in (None, "volume"):
            raise UsageError(f"--volume is the volume example's array, not {args.example}'s")
        example = "volume"
    example = example or "image"
    if example == "volume" and args.volume is None:
        raise UsageError("--example volume needs --volume FILE.npy")
    if args.z_plane is not None and example not in _SLICED:
        raise UsageError(f"--z-plane applies to bubbles and volume, not {args.example}")
    if example != "image" and (args.image is not None or args.image_name is not None):
        raise UsageError(f"IMAGE and --image-name apply to --example image, not {args.example}")
    if example != "image" and args.max_pixels is not None:
        raise UsageError(f"--max-pixels applies to --example image, not {args.example}")
    if example != "image" and args.device == "cuda":
        raise UsageError(
            f"--example {args.example} trains on the CPU (--device cpu, --cpu-backend) or on "
            "WebGPU (--device webgpu); --device cuda fits images"
        )
    return example


def settings_for(args: argparse.Namespace, example: str) -> Any:
    """The run's FitSettings: --preset's for the example (or Dx12NN's defaults), --config,
    then the options given."""
    from gfxnn.apps.settings_options import settings_from_args
    from gfxnn.fields.presets import preset_settings

    if args.preset is None:
        return settings_from_args(args)
    if args.config is not None:
        raise UsageError("give --preset or --config, not both")
    return settings_from_args(args, preset_settings(args.preset, example))


def load_targets(args: argparse.Namespace, example: str) -> list[Any]:
    """The targets of a non-image example (UsageError for a bad volume file)."""
    from gfxnn.fields.examples import VolumeError, make_targets

    try:
        return make_targets(example, volume=args.volume)
    except VolumeError as error:
        raise UsageError(error) from None


def webgpu_adapter(settings: Any, target: Any) -> str:
    """The WebGPU adapter's name, or UsageError (exit 2, nothing written) without one or for
    settings its kernels cannot run for the target's sizes."""
    from gfxnn.apps.command import stdout_to_stderr
    from gfxnn.webgpu import NoAdapterError, get_gpu
    from gfxnn.webgpu.fitter import check_supported

    try:
        with stdout_to_stderr():  # a driver's start-up chatter is no result
            name = str(get_gpu().name)
        check_supported(settings, target.n_input_dims, target.n_output_dims)
    except (NoAdapterError, ValueError) as error:
        raise UsageError(f"--device webgpu: {error}") from None
    return name


def build_model(targets: list[Any], settings: Any, cpu_backend: str, device: str = "cpu") -> Any:
    """A FitController of the one target, or a MultiFitController of four, on the CPU
    (`cpu_backend`) or, for device "webgpu", each network a `WebGpuTrainer` (the exact
    cosine and bubbles are drawn on the host, grids sampled on the device)."""
    from gfxnn.compiled import cpu_trainer_factory
    from gfxnn.fields.controller import FitController
    from gfxnn.fields.multi import MultiFitController

    if device == "webgpu":
        from gfxnn.webgpu.trainer import WebGpuTrainer

        factory: Any = WebGpuTrainer
    else:
        factory = cpu_trainer_factory(cpu_backend)
    if len(targets) > 1:
        return MultiFitController(targets, settings, factory, blas_threads=1)
    return FitController(targets[0], settings, factory, blas_threads=1)


def example_config(example: str, targets: list[Any], z_plane: float | None) -> dict[str, Any]:
    """What a run's config says about its example (and what checkpoints are read with)."""
    from gfxnn.fields.examples import FOUR_IMAGES

    target = targets[0]
    info: dict[str, Any] = {
        "name": example,
        "n_input_dims": target.n_input_dims,
        "n_output_dims": target.n_output_dims,
        "grid_shape": list(target.grid_shape),
    }
    if example == "four_images":
        info["images"] = [f"bundled:{name}" for name in FOUR_IMAGES]
    if example == "volume":
        info["source"] = target.source
    if example in _SLICED:
        info["z_plane"] = 0.5 if z_plane is None else z_plane
    return info


def write_example_frames(out_dir: Path, model: Any, metrics: dict[str, Any], example: dict) -> None:
    """reference/prediction/comparison PNGs of the example's frames (`example` is the
    config's "example" entry); metrics gain "example", "frame_psnr" (of what the PNGs show),
    "z_plane" for a slice and, for several networks, "networks" (each one's PSNR and loss)."""
    from gfxnn.data.images import encode_png
    from gfxnn.fields import display
    from gfxnn.io import atomic_write_bytes

    z_plane = example.get("z_plane", 0.5)
    frames = display.render_frames(model, z_plane=z_plane)
    atomic_write_bytes(out_dir / "reference.png", encode_png(frames.reference))
    atomic_write_bytes(out_dir / "prediction.png", encode_png(frames.prediction))
    comparison = np.concatenate([frames.reference, frames.prediction], axis=1)
    atomic_write_bytes(out_dir / "comparison.png", encode_png(comparison))
    metrics["example"] = example["name"]
    metrics["frame_psnr"] = _finite(frames.psnr)
    if example["name"] in _SLICED:
        metrics["z_plane"] = z_plane
    if hasattr(model, "controllers"):
        names = example.get("images", [None] * len(model))
        rows = zip(names, model.psnrs(), model.losses(), strict=True)
        metrics["networks"] = [
            {"index": i, "image": name, "psnr": _finite(psnr), "final_loss": _finite(loss)}
            for i, (name, psnr, loss) in enumerate(rows)
        ]


def _finite(value: float) -> float | None:
    """JSON has no NaN: a NaN becomes null (inf stays: the JSON writer spells it)."""
    return None if isinstance(value, float) and math.isnan(value) else value


def start_example(
    args: argparse.Namespace,
    example: str,
    settings: Any,
    run_model: Callable[..., Any],
    output_files: tuple[str, ...],
) -> tuple[Any, Path]:
    """Check the output directory and load the example's targets (UsageError, nothing
    written, for anything wrong), say what is fitted; (the run to call, its directory).
    `run_model` and `output_files` are gfxnn.apps.fit's, passed in (that module imports this
    one, so importing it back would be a cycle)."""
    from rich.console import Console

    from gfxnn.apps.outputs import OutputDirError, RunDirectory, default_output_dir
    from gfxnn.fields import checkpoint as fit_checkpoint

    inputs = [p for p in (args.volume, args.config) if p is not None]
    out = args.out if args.out is not None else default_output_dir()
    run_dir = RunDirectory(out, output_files, inputs, args.force)
    try:
        run_dir.check()
    except OutputDirError as error:
        raise UsageError(error) from None
    targets = load_targets(args, example)
    device = "webgpu" if args.device == "webgpu" else "cpu"  # auto: no probing, the CPU
    adapter = webgpu_adapter(settings, targets[0]) if device == "webgpu" else None
    info = example_config(example, targets, args.z_plane)
    config = fit_checkpoint.checkpoint_config(
        settings,
        image=None,
        app="gfxnn fit",
        run={"steps": args.steps, "seconds": args.seconds, "device": device},
        example=info,
    )
    errors = Console(stderr=True, soft_wrap=True)
    if adapter is not None:
        errors.print(f"gfxnn fit: WebGPU adapter {adapter}", markup=False, highlight=False)
    shape = "x".join(str(n) for n in targets[0].grid_shape)
    what = f"{len(targets)} networks, " if len(targets) > 1 else ""
    errors.print(
        f"fitting {args.example or example} ({what}{shape}) -> {run_dir.path}", markup=False
    )

    def write_frames(staging: Path, model: Any, metrics: dict[str, Any]) -> None:
        write_example_frames(staging, model, metrics, info)
        if adapter is not None:
            metrics["adapter"] = adapter

    def fit() -> Any:
        return run_model(
            lambda: build_model(targets, settings, args.cpu_backend, device),
            write_frames,
            config,
            run_dir,
            steps=args.steps,
            seconds=args.seconds,
            console=errors,
            show_progress=not args.quiet,
        )

    return fit, run_dir.path
