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

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from gfxnn.fields.settings import FitSettings, settings_fields

__all__ = [
    "KERNEL_FILES",
    "SITE_NETWORKS",
    "StaticSiteError",
    "browser_model",
    "kernel_sources",
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
    "frame_loop.js",
    "multi_run.js",
    "trainer.js",
    "device.js",
    "files.js",
    "examples.js",
)
# The networks the static page offers (its settings are fixed at build time: the kernel plan
# of each is computed here, by the Python backend's layout; live settings change in the page).
SITE_NETWORKS: dict[str, tuple[str, dict[str, Any]]] = {
    "small": ("Small: frequency, 32 x 2, batch 1024", {"n_neurons": 32, "batch_size": 1024}),
    "dx12nn": ("Dx12NN default: frequency, 64 x 2", {}),
    "hashgrid": (
        "Hash grid: 8 levels, 2^14 entries, 32 x 2",
        {
            "encoding": "hashgrid",
            "encoding_params": {"n_levels": 8, "log2_hashmap_size": 14},
            "n_neurons": 32,
            "learning_rate": 0.01,
        },
    ),
}


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


def _starting_weights(settings: FitSettings, path: Path) -> None:
    """The network's first weights as a fit checkpoint (the CPU trainer's draw from the seed,
    as `gfxnn fit` starts), which the page reads with its checkpoint reader."""
    from gfxnn.fields import checkpoint
    from gfxnn.fused import make_trainer

    state = make_trainer(settings.model_spec()).state_dict()
    image = {"source": "none", "width": 256, "height": 256}
    config = checkpoint.checkpoint_config(settings, image=image, app="gfxnn studio --static")
    checkpoint.save(path, state, config, psnr=None, steps=0, weights_step=0)


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
        "models": [],
        "images": [],
    }
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        for name, (label, changes) in SITE_NETWORKS.items():
            settings = FitSettings(**changes)
            model_file, weights_file = f"model-{name}.json", f"model-{name}.safetensors"
            files[model_file] = json.dumps(browser_model(settings)).encode("utf-8")
            _starting_weights(settings, Path(scratch) / weights_file)
            files[weights_file] = (Path(scratch) / weights_file).read_bytes()
            entry = {"name": name, "label": label, "model": model_file, "weights": weights_file}
            site["models"].append(entry)
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
