"""The `gfxnn` command: `gfxnn fit`, `gfxnn render` (later: `bench`, `export`, `studio`).

Exit codes: 0 success; 1 the run diverged (outputs written with the last good weights) or an
output could not be written; 2 bad input (a one-line message on stderr, no traceback);
130 interrupted by Ctrl-C (outputs written with the weights so far).

Each subcommand is one `_add_<name>` function that declares its arguments and sets `run`, the
function that executes it; a new subcommand adds one such function to `_COMMANDS`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_INTERRUPTED", "build_parser", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

_BUNDLED = ("astronaut", "circle", "half", "quarter")  # = gfxnn.data.BUNDLED_IMAGES, kept lazy
# = gfxnn.imagefit.ENCODINGS and ACTIVATIONS (tests check), kept lazy so --help is instant.
_ENCODINGS = (
    "frequency",
    "identity",
    "hashgrid",
    "densegrid",
    "oneblob",
    "onehot",
    "trianglewave",
    "gaussianfourier",
    "composite",  # needs --encoding-param nested=[...]
    "sphericalharmonics",  # refused with a reason: it encodes 3-D directions
)
_ACTIVATIONS = ("leaky_relu", "relu", "sigmoid", "tanh", "sine", "softplus", "none")


class UsageError(Exception):
    """Bad input: printed as one line `gfxnn <command>: error: <message>`, exit code 2."""

    def __init__(self, message: object, prog: str | None = None) -> None:
        super().__init__(str(message))
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage dump) and never exits by itself."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)", prog=self.prog)


def _positive_int(text: str) -> int:
    value = int(text) if text.lstrip("-").isdigit() else None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def _add_fit(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fit",
        help="train an MLP to learn an image, (u, v) -> RGB (Dx12NN)",
        description="Train an MLP to learn an image, (u, v) -> RGB, with Dx12NN's controls. "
        "Stops after --steps steps or --seconds seconds, whichever comes first. Writes "
        "reference/prediction/comparison/curves PNGs, metrics.json, config.json and "
        "checkpoint.safetensors into --out.",
    )
    parser.add_argument(
        "image",
        nargs="?",
        type=Path,
        metavar="IMAGE",
        help="PNG/JPEG to fit (default: the bundled --image-name)",
    )
    parser.add_argument(
        "--image-name",
        choices=_BUNDLED,
        default=None,
        help="bundled image to fit when IMAGE is omitted (default: astronaut)",
    )
    parser.add_argument(
        "--steps",
        metavar="N",
        type=_positive_int,
        default=5000,
        help="training steps (default: 5000)",
    )
    parser.add_argument(
        "--seconds",
        metavar="T",
        type=_positive_float,
        default=None,
        help="stop after this many seconds even if --steps is not reached",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=None,
        help="output directory (default: runs/fit-<date>-<time>)",
    )
    parser.add_argument(
        "--config",
        metavar="JSON",
        type=Path,
        default=None,
        help="a tiny-cuda-nn-format model config (encoding, network, loss, optimizer); "
        "settings given as options override it",
    )
    group = parser.add_argument_group("settings (defaults: Dx12NN's)")
    group.add_argument(
        "--batch-size", metavar="B", type=int, help="UV samples per step, 1..65536 (2048)"
    )
    group.add_argument(
        "--lr", metavar="LR", type=float, dest="learning_rate", help="learning rate > 0 (1e-3)"
    )
    group.add_argument("--optimizer", choices=("adam", "sgd"), help="(adam)")
    group.add_argument("--encoding", choices=_ENCODINGS, help="(frequency)")
    group.add_argument(
        "--encoding-param",
        metavar="KEY=VALUE",
        action="append",
        default=None,
        dest="encoding_params",
        help="a tcnn parameter of the encoding, e.g. n_levels=16 (VALUE is JSON); repeatable",
    )
    group.add_argument(
        "--encoding-lr",
        metavar="LR",
        type=float,
        dest="encoding_learning_rate",
        help="learning rate of a grid encoding's table (default: --lr)",
    )
    group.add_argument(
        "--n-frequencies", metavar="F", type=int, help="frequency-encoding octaves, 2..16 (8)"
    )
    group.add_argument(
        "--activation",
        choices=_ACTIVATIONS,
        help="on every layer, the output too unless --output-activation (leaky_relu)",
    )
    group.add_argument("--output-activation", choices=_ACTIVATIONS, help="(= --activation)")
    group.add_argument("--loss", choices=("l2", "relative_l2", "l1"), help="(l2)")
    group.add_argument(
        "--n-layers", metavar="L", type=int, help="layers incl. input and output, 3..8 (4)"
    )
    group.add_argument(
        "--n-neurons", metavar="W", type=int, help="width of every hidden layer, 1..256 (64)"
    )
    group.add_argument(
        "--seed", metavar="S", type=int, help="seeds the weights and the UV sampler, >= 0 (0)"
    )
    parser.add_argument(
        "--max-pixels",
        metavar="N",
        type=_positive_int,
        default=None,
        help="refuse larger images (default: 4096*4096)",
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="cuda: the GPU path (pip install 'gfxnn[gpu]'); auto: cuda when a CUDA GPU is "
        "present and supports the settings, else the CPU with a one-line notice (auto)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=_run_fit)


def _add_render(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "render",
        help="render a `gfxnn fit` checkpoint at any resolution",
        description="Evaluate a checkpoint written by `gfxnn fit` at WIDTH x HEIGHT (default: "
        "the fitted image's size) and write a PNG.",
    )
    parser.add_argument("checkpoint", type=Path, metavar="CHECKPOINT", help="written by gfxnn fit")
    parser.add_argument(
        "-o",
        "--output",
        metavar="PNG",
        type=Path,
        default=None,
        help="PNG to write (default: render-WxH.png next to the checkpoint)",
    )
    parser.add_argument("--width", metavar="W", type=_positive_int, help="(default: as fitted)")
    parser.add_argument("--height", metavar="H", type=_positive_int, help="(default: as fitted)")
    parser.set_defaults(run=_run_render)


def _add_studio(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "studio",
        help="Dx12NN's window in the browser: live training with every control",
        description="Serve a local web page that trains an MLP on an image while you watch "
        "(reference left, prediction right, loss/PSNR charts, every Dx12NN control). Needs "
        "the studio extra: pip install 'gfxnn[studio]'. See docs/studio.md.",
    )
    parser.add_argument(
        "image", nargs="?", metavar="IMAGE", help="PNG/JPEG or a bundled name (astronaut)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=_positive_int, default=8000, help="(8000)")
    parser.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default="auto", help="(auto: CPU for now)"
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=Path("studio-runs"),
        help="where checkpoints and exports are written (./studio-runs)",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host (no authentication: anyone who reaches the port "
        "controls the studio)",
    )
    parser.set_defaults(run=_run_studio)


def _run_studio(args: argparse.Namespace) -> int:
    try:
        from gfxnn.apps.studio.run import StudioError, serve
    except ImportError as error:
        raise UsageError(f"{error}; install the extra: pip install 'gfxnn[studio]'") from None
    try:
        serve(
            args.image,
            host=args.host,
            port=args.port,
            device=args.device,
            out_dir=args.out,
            allow_remote=args.allow_remote,
        )
    except StudioError as error:
        raise UsageError(error) from None
    return EXIT_OK


def _add_export(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a `gfxnn fit` checkpoint as GLSL, HLSL, WGSL or ONNX",
        description="Write the network of a `gfxnn fit` checkpoint as one self-contained shader "
        "function (weights inlined), optionally wrapped in a compute shader or a Shadertoy "
        "mainImage, or as an ONNX model. Shader code goes to stdout unless -o is given; ONNX "
        "goes to CHECKPOINT with the .onnx suffix unless -o is given; a grid encoding's table "
        "goes to FILE's name with the suffix .grid.bin. See docs/export.md.",
    )
    parser.add_argument("checkpoint", type=Path, metavar="CHECKPOINT", help="written by gfxnn fit")
    parser.add_argument(
        "--format", required=True, choices=("glsl", "hlsl", "wgsl", "onnx"), help="target"
    )
    parser.add_argument("-o", "--output", metavar="FILE", type=Path, default=None)
    parser.add_argument(
        "--name", default="gfxnn_network", help="the shader function's name (gfxnn_network)"
    )
    parser.add_argument(
        "--wrapper",
        choices=("none", "compute", "shadertoy"),
        default="none",
        help="none: the function alone; compute: a compute shader writing an image; "
        "shadertoy: a GLSL mainImage (default: none)",
    )

    def run(args: argparse.Namespace) -> int:
        from gfxnn.apps.export import export_command

        try:
            paths = export_command(
                args.checkpoint, args.format, args.output, args.name, args.wrapper
            )
        except ValueError as error:  # CheckpointError, ExportError
            raise UsageError(error) from None
        except OSError as error:
            raise UsageError(f"cannot write {args.output}: {error.strerror or error}") from None
        for path in paths:
            print(f"wrote {path}")
        return EXIT_OK

    parser.set_defaults(run=run)


_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_fit,
    _add_render,
    _add_studio,
    _add_export,
]


def build_parser() -> argparse.ArgumentParser:
    """The `gfxnn` argument parser with one subparser per command."""
    from gfxnn import __version__

    parser = _Parser(prog="gfxnn", description="Small neural networks for computer graphics.")
    parser.add_argument("--version", action="version", version=f"gfxnn {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in _COMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `gfxnn` with `argv` (default: sys.argv[1:]); returns the exit code."""
    parser = build_parser()
    prog = "gfxnn"
    try:
        args, extra = parser.parse_known_args(argv)
        prog = f"gfxnn {args.command}"
        if extra:  # reported here so the message names the subcommand, not bare `gfxnn`
            raise UsageError(f"unrecognized arguments: {' '.join(extra)} (see {prog} --help)")
        return int(args.run(args))
    except KeyboardInterrupt:  # a second Ctrl-C during a fit, or one outside a fit's loop
        _error(f"{prog}: interrupted")
        return EXIT_INTERRUPTED
    except SystemExit as exit_:  # --help and --version
        return exit_.code if isinstance(exit_.code, int) else EXIT_OK
    except UsageError as error:
        _error(f"{error.prog or prog}: error: {error}")
        return EXIT_BAD_INPUT


def _resolve_device(requested: str, settings: object) -> tuple[str, str | None]:
    """("cpu" | "cuda", a notice to print or None) for `gfxnn fit --device`."""
    if requested == "cpu":
        return "cpu", None
    from gfxnn import gpu

    if not gpu.available():
        if requested == "cuda":
            raise UsageError(
                "--device cuda: no CUDA GPU found (or Warp is missing: pip install 'gfxnn[gpu]')"
            )
        return "cpu", "gfxnn fit: no CUDA GPU found, training on the CPU"
    from gfxnn.gpu.trainer import check_supported

    try:
        check_supported(settings)  # type: ignore[arg-type]
    except ValueError as error:
        if requested == "cuda":
            raise UsageError(f"--device cuda: {error}") from None
        return "cpu", f"gfxnn fit: training on the CPU ({error})"
    return "cuda", None


def _read_json(path: Path) -> object:
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UsageError(f"{path} is not valid JSON: {error}") from None


def _parse_encoding_params(items: list[str]) -> dict[str, object]:
    import json

    params: dict[str, object] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--encoding-param needs KEY=VALUE, got {item!r}")
        try:
            params[key] = json.loads(text)
        except json.JSONDecodeError:
            params[key] = text  # a bare word such as Linear
    return params


def _error(line: str) -> None:
    print(line.replace("\n", " "), file=sys.stderr)


def _run_fit(args: argparse.Namespace) -> int:
    from rich.console import Console

    from gfxnn.apps.fit import OutputDirError, default_output_dir, prepare_output_dir, run_fit
    from gfxnn.data.images import (
        DEFAULT_MAX_PIXELS,
        ImageError,
        LoadedImage,
        bundled_image_source,
        load_bundled,
        read_image,
    )
    from gfxnn.imagefit import FitSettings

    names = (
        "batch_size",
        "learning_rate",
        "optimizer",
        "encoding",
        "n_frequencies",
        "activation",
        "n_layers",
        "n_neurons",
        "seed",
        "encoding_learning_rate",
        "output_activation",
        "loss",
    )
    given = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
    if args.encoding_params is not None:
        given["encoding_params"] = _parse_encoding_params(args.encoding_params)
    try:
        if args.config is not None:
            settings = FitSettings.from_config(_read_json(args.config), **given)
        else:
            settings = FitSettings(**given)
        settings.validate()
    except (ValueError, TypeError) as error:
        raise UsageError(error) from None
    if args.image is not None and args.image_name is not None:
        raise UsageError("give either IMAGE or --image-name, not both")
    try:
        if args.image is None:
            name = args.image_name or "astronaut"
            loaded = LoadedImage(load_bundled(name), bundled_image_source(name))
        else:
            loaded = read_image(args.image, max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS)
        out_dir = prepare_output_dir(args.out if args.out is not None else default_output_dir())
    except (ImageError, OutputDirError) as error:
        if args.image is not None and str(args.image) in _BUNDLED and not args.image.exists():
            raise UsageError(
                f"{error} (for the bundled image: --image-name {args.image})"
            ) from None
        raise UsageError(error) from None

    console, errors = Console(), Console(stderr=True)
    device, notice = _resolve_device(args.device, settings)
    if notice:
        errors.print(notice, markup=False, highlight=False)
    for note in loaded.notes:
        errors.print(f"note: {note}", markup=False, highlight=False)
    height, width = loaded.pixels.shape[:2]
    image_info = {"source": loaded.source, "notes": loaded.notes}
    errors.print(f"fitting {loaded.source} ({width}x{height}) -> {out_dir}", markup=False)
    try:
        result = run_fit(
            loaded.pixels,
            settings,
            out_dir,
            steps=args.steps,
            seconds=args.seconds,
            image_info=image_info,
            console=errors,
            show_progress=not args.quiet,
            device=device,
        )
    except OSError as error:
        _error(f"gfxnn fit: error: cannot write outputs to {out_dir}: {error}")
        return EXIT_FAILED
    metrics = result.metrics
    if result.stopped_by == "diverged":
        # Our own line: the fitter's message speaks of its weights, we restored older ones.
        _error(
            f"gfxnn fit: training diverged at step {metrics['steps'] + 1} (the loss is not "
            f"finite); outputs written with the last good weights, from step "
            f"{metrics['weights_step']}; try a lower learning rate"
        )
    elif result.stopped_by == "interrupted":
        _error(f"gfxnn fit: interrupted at step {metrics['steps']}; outputs written")
    console.print(
        f"PSNR {metrics['psnr']:.2f} dB after {metrics['weights_step']} steps "
        f"({metrics['steps_per_second']:.0f} steps/s, {metrics['seconds']:.1f} s); "
        f"outputs in {out_dir}/ (comparison.png, curves.png, metrics.json, "
        f"checkpoint.safetensors)",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    return {"diverged": EXIT_FAILED, "interrupted": EXIT_INTERRUPTED}.get(
        result.stopped_by, EXIT_OK
    )


def _run_render(args: argparse.Namespace) -> int:
    from gfxnn.apps.render import render_checkpoint
    from gfxnn.io import CheckpointError

    if args.output is not None and args.output.suffix.lower() != ".png":
        raise UsageError(f"the output must be a .png file, got {args.output}")
    try:
        path = render_checkpoint(args.checkpoint, args.output, args.width, args.height)
    except (CheckpointError, ValueError) as error:
        raise UsageError(error) from None
    except OSError as error:
        raise UsageError(f"cannot write {args.output}: {error.strerror or error}") from None
    print(f"wrote {path}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
