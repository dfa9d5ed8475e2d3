"""Training in the browser: what the page's WebGPU driver (static/browser/) is given, the
studio routes that serve it, and `gfxnn studio --static DIR`, the same page as static files.

The page runs the WGSL files of `gfxnn/webgpu/wgsl/` unchanged: `kernel_sources()` resolves
their `//!include`s with `gfxnn.webgpu.shaders.shader_source`, the Python backend's own
loader. `browser_model(settings)` is `gfxnn.webgpu.layout.model_plan` of the settings as
JSON, so the override constants, runtime choices and grid level words the page compiles with
are the ones the Python backend computes. Weights travel as fit checkpoints
(`gfxnn.fields.checkpoint`), validated like any upload: nothing in them is ever executed.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from gfxnn.fields.examples import FOUR_IMAGES, MAX_VOLUME_VALUES, four_images
from gfxnn.fields.presets import preset_settings
from gfxnn.fields.settings import FitSettings, settings_fields

__all__ = [
    "KERNEL_FILES",
    "SITE_ENCODINGS",
    "SITE_EXAMPLES",
    "StaticSiteError",
    "browser_model",
    "kernel_sources",
    "plan_changes",
    "run_static",
    "state_names",
    "write_static_site",
]

# the files with entry points (infer_f16.wgsl: precision "fp16", where shader-f16 is offered)
KERNEL_FILES = ("train.wgsl", "gradient.wgsl", "infer.wgsl", "infer_f16.wgsl")
BROWSER_DIR = Path(__file__).parent / "static" / "browser"
# The static page's modules (site.js imports the others; one flat folder).
SITE_MODULES = (
    "site.js",
    "site.css",
    "run.js",
    "plans.js",
    "frame_loop.js",
    "multi_run.js",
    "trainer.js",
    "device.js",
    "files.js",
    "examples.js",
)
# The encodings the static page offers, for each example's input and output sizes: Python plans
# each here (layout.model_plan of a default MLP: the encoding's constants, features and grid
# levels); the page builds any MLP around one (static/browser/plans.js).
SITE_ENCODINGS: dict[str, tuple[str, dict[str, Any]]] = {
    "frequency": ("Frequency, 8 (Dx12NN's)", {"encoding": "frequency", "n_frequencies": 8}),
    "hashgrid": (
        "Hash grid: 8 levels, 2^14 entries",
        {"encoding": "hashgrid", "encoding_params": {"n_levels": 8, "log2_hashmap_size": 14}},
    ),
    "trianglewave": ("Triangle wave, 8", {"encoding": "trianglewave", "n_frequencies": 8}),
    "identity": ("None (the inputs as they are)", {"encoding": "identity"}),
    # MLPZen's encoding of the example (gfxnn.fields.presets): per input count, plan_changes
    "mlpzen": ("MLPZen's for this example", {}),
}
# MLPZen's preset example for each input count (its encodings differ by example: cosine's
# one-blob, the image's 2^12 grid, the 3-D examples' 2^15 grid).
MLPZEN_EXAMPLE_OF_DIMS = {1: "cosine", 2: "image", 3: "bubbles"}
# The examples the static page trains: (label, input dims, output channels; 0: the channels of
# the volume the user drops in, 1 to 4).
SITE_EXAMPLES: dict[str, tuple[str, int, int]] = {
    "image": ("Learn Image", 2, 3),
    "four_images": ("Learn Four Images", 2, 3),
    "cosine": ("Learn Cosine", 1, 1),
    "bubbles": ("Bubbles 3-D", 3, 3),
    "volume": ("Volume (a .npy you drop in)", 3, 0),
}
VOLUME_CHANNELS = (1, 2, 3, 4)
# The settings the page starts with: a network SwiftShader (a CPU) also trains at a few
# steps a second.
SITE_START: dict[str, Any] = {"n_neurons": 32, "batch_size": 1024, "learning_rate": 0.01}


class StaticSiteError(ValueError):
    """`gfxnn studio --static DIR` cannot write there (one line for the terminal)."""


def kernel_sources() -> dict[str, str]:
    """{file: WGSL with its includes resolved} of the kernels the page compiles."""
    from gfxnn.webgpu.shaders import shader_source

    return {name: shader_source(name) for name in KERNEL_FILES}


def state_names(sizes: tuple[int, ...], n_table: int) -> list[tuple[str, list[int]]]:
    """(name, shape) of each tensor of the weights in flat order (the trainers' state_dict:
    layers.{i}.weight (out, in), layers.{i}.bias, then a grid's flat encoding.table)."""
    names: list[tuple[str, list[int]]] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        names += [(f"layers.{i}.weight", [n_out, n_in]), (f"layers.{i}.bias", [n_out])]
    if n_table:
        names.append(("encoding.table", [n_table]))
    return names


def browser_model(settings: FitSettings, n_input_dims: int = 2, n_output_dims: int = 3) -> dict:
    """What the page's trainer is built from: the ModelSpec of `settings` and its kernel plan,
    JSON-able. ValueError naming what the kernels cannot run (as the Python backend)."""
    from gfxnn.webgpu import layout

    spec = settings.model_spec(n_input_dims, n_output_dims)
    plan = layout.model_plan(spec)
    return {
        "spec": dataclasses.asdict(spec),
        "settings": settings.to_dict(),
        "sizes": list(plan.sizes),
        "n_params": plan.n_params,
        "n_table": plan.n_table,
        "constants": dict(plan.constants),
        "choices": list(plan.choices),
        "meta_levels": [int(word) for word in plan.meta_levels],
        "names": state_names(plan.sizes, plan.n_table),
    }


# ----- gfxnn studio --static DIR ----------------------------------------------------------------
def _png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    from gfxnn.data.images import to_uint8

    buffer = io.BytesIO()
    Image.fromarray(to_uint8(pixels)).save(buffer, format="PNG")
    return buffer.getvalue()


def plan_changes(encoding: str, n_input_dims: int) -> dict[str, Any]:
    """The settings that shape the encoding plan `encoding` (a SITE_ENCODINGS name) of a
    network of `n_input_dims` inputs; plans.js takes every other setting from the page."""
    if encoding != "mlpzen":
        return copy.deepcopy(SITE_ENCODINGS[encoding][1])  # never the table's own dicts
    settings = preset_settings("mlpzen", MLPZEN_EXAMPLE_OF_DIMS[n_input_dims])
    return {k: getattr(settings, k) for k in ("encoding", "encoding_params", "n_frequencies")}


def _ids() -> dict[str, Any]:
    """What the page's plans.js needs to build an MLP as layout.model_plan does."""
    from gfxnn.webgpu import layout

    layers = next(f.range for f in settings_fields() if f.name == "n_layers")
    assert layers is not None and layers[1] is not None  # FitSettings bounds it
    return {
        "activations": dict(layout.ACTIVATION_IDS),
        "losses": list(layout.LOSSES),
        "optimizers": list(layout.OPTIMIZERS),
        "max_width": layout.MAX_WIDTH,
        "n_layers": list(layers),
    }


def _site_files(images: list[tuple[str, np.ndarray]]) -> dict[str, bytes]:
    """{file name: bytes} of the whole static site."""
    from gfxnn.apps.studio.uploads import DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_MAX_UPLOAD_PIXELS

    files = {"index.html": (BROWSER_DIR / "site.html").read_bytes()}
    files |= {name: (BROWSER_DIR / name).read_bytes() for name in SITE_MODULES}
    files |= {name: text.encode("utf-8") for name, text in kernel_sources().items()}
    batch_range = next(f.range for f in settings_fields() if f.name == "batch_size")
    assert batch_range is not None and batch_range[1] is not None  # FitSettings caps it
    site: dict[str, Any] = {
        "kernels": list(KERNEL_FILES),
        "limits": {
            "max_upload_bytes": DEFAULT_MAX_UPLOAD_BYTES,
            "max_upload_pixels": DEFAULT_MAX_UPLOAD_PIXELS,
            "max_batch_size": batch_range[1],
        },
        "plans": {},
        "encodings": [{"name": n, "label": label} for n, (label, _) in SITE_ENCODINGS.items()],
        "examples": [
            {"name": n, "label": label, "n_input_dims": d, "n_output_dims": c}
            for n, (label, d, c) in SITE_EXAMPLES.items()
        ],
        # Learn Four Images' images at their one size (gfxnn.fields.examples.four_images)
        "four_images": [{"name": name, "file": f"four-{name}.png"} for name in FOUR_IMAGES],
        "settings": FitSettings(**SITE_START).to_dict(),
        "max_volume_values": MAX_VOLUME_VALUES,
        "ids": _ids(),
        # the panel's "Load the defaults of" buttons: each preset's settings for each example,
        # and which encoding plan they train with
        "presets": {
            example: {
                "dx12nn": {"settings": FitSettings().to_dict(), "encoding": "frequency"},
                "mlpzen": {
                    "settings": preset_settings("mlpzen", example).to_dict(),
                    "encoding": "mlpzen",
                },
            }
            for example in SITE_EXAMPLES
        },
        "images": [],
    }
    shapes = {(d, c) for _, d, c in SITE_EXAMPLES.values() if c} | {(3, c) for c in VOLUME_CHANNELS}
    for d, c in sorted(shapes):
        shape = f"{d}x{c}"
        site["plans"][shape] = {}
        for name in SITE_ENCODINGS:
            model_file = f"plan-{shape}-{name}.json"
            model = browser_model(FitSettings(**SITE_START, **plan_changes(name, d)), d, c)
            files[model_file] = json.dumps(model).encode("utf-8")
            site["plans"][shape][name] = model_file
    for name, pixels in zip(FOUR_IMAGES, four_images(), strict=True):
        files[f"four-{name}.png"] = _png(pixels)
    for name, pixels in images:
        files[f"image-{name}.png"] = _png(pixels)
        site["images"].append({"name": name, "file": f"image-{name}.png"})
    files["site.json"] = json.dumps(site, indent=1).encode("utf-8")
    return files


def write_static_site(directory: str | Path, first_image: Any = None) -> list[str]:
    """Write the static studio into `directory` (created; a directory holding files gfxnn did
    not write is refused, a previous static site is replaced whole, as every gfxnn output,
    `gfxnn.apps.outputs.RunDirectory`). `first_image`: a LoadedImage shown first (the
    bundled images follow). Returns the names written.

    Raises:
        StaticSiteError: the directory cannot be used.
    """
    from gfxnn.apps.outputs import OutputDirError, RunDirectory
    from gfxnn.data.images import BUNDLED_IMAGES, load_bundled

    images: list[tuple[str, np.ndarray]] = []
    if first_image is not None:
        stem = Path(str(first_image.source).split(":")[-1]).stem or "image"
        images.append(
            ("".join(c if c.isalnum() or c in "-_" else "_" for c in stem), first_image.pixels)
        )
    images += [(name, load_bundled(name)) for name in BUNDLED_IMAGES if name not in dict(images)]
    files = _site_files(images)
    run = RunDirectory(directory, sorted(files))
    try:
        run.check()
        staging = run.stage()
    except OutputDirError as error:
        # the same rules as --out, but `gfxnn studio` has no --force: a new DIR it is
        text = str(error).replace(", or give --force to write the outputs beside them", "")
        raise StaticSiteError(text.replace("--out", "--static")) from None
    try:
        for name, data in files.items():
            (staging / name).write_bytes(data)
        run.commit()
    except BaseException:
        run.discard()
        raise
    return sorted(files)


def run_static(directory: str | Path, first_image: Any = None) -> int:
    """`gfxnn studio --static DIR [IMAGE]`: write the static studio and exit (no server starts;
    the server's options do not apply). A directory it cannot use is a UsageError (one line,
    exit 2)."""
    from gfxnn.apps.command import EXIT_OK, UsageError

    try:
        names = write_static_site(directory, first_image)
    except StaticSiteError as error:
        raise UsageError(str(error)) from None
    print(
        f"gfxnn studio: wrote a static studio ({len(names)} files) to {directory}/: it trains "
        f"in the browser's WebGPU with no server; serve it with any static web server, e.g. "
        f"python -m http.server -d {directory} (WebGPU needs https or a 127.0.0.1 page)"
    )
    return EXIT_OK
