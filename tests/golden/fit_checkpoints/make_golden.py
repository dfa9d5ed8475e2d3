"""Write the golden fit checkpoints with the code of commit 0c808cc, before gfxnn.fields.

    git archive 0c808cc | tar -x -C /tmp/golden_src
    export PYTHONPATH=/tmp/golden_src/src
    gfxnn fit --image-name circle --steps 50 --n-neurons 16 --n-frequencies 4 \\
        --batch-size 256 --out /tmp/golden_run --quiet
    gfxnn fit --image-name quarter --steps 50 --encoding hashgrid --encoding-param n_levels=4 \\
        --encoding-param log2_hashmap_size=10 --encoding-param base_resolution=4 \\
        --n-neurons 16 --n-layers 3 --batch-size 256 --out /tmp/golden_hash --quiet
    python make_golden.py tests/golden/fit_checkpoints
"""

import shutil
import sys
from pathlib import Path

import numpy as np

from gfxnn.apps.render import load_fit_checkpoint
from gfxnn.apps.studio.session import TrainingSession
from gfxnn.data.images import LoadedImage, bundled_image_source, load_bundled
from gfxnn.imagefit import FitSettings, model_from_checkpoint, render_image

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
shutil.copy("/tmp/golden_run/checkpoint.safetensors", out / "fit_frequency.safetensors")
shutil.copy("/tmp/golden_hash/checkpoint.safetensors", out / "fit_hashgrid.safetensors")
# A studio checkpoint (its own config dict) with a GaussianFourier encoding (fixed matrix B).
settings = FitSettings(
    batch_size=128,
    n_neurons=8,
    n_layers=3,
    encoding="gaussianfourier",
    encoding_params={"n_frequencies": 6},
    activation="relu",
    output_activation="sigmoid",
)
session = TrainingSession(
    LoadedImage(load_bundled("half"), bundled_image_source("half")),
    settings,
    out_dir="/tmp/golden_studio",
)
session.step(30)
saved = session.save_checkpoint()
session.close()
shutil.copy(saved.path, out / "studio_gaussianfourier.safetensors")
for name in ("fit_frequency", "fit_hashgrid", "studio_gaussianfourier"):
    state, settings, config = load_fit_checkpoint(out / f"{name}.safetensors")
    pixels = render_image(state, settings, 40, 30)  # not square: an axis swap shows
    np.save(out / f"{name}_render_40x30.npy", pixels)
    encoding, network, _ = model_from_checkpoint(out / f"{name}.safetensors")
    print(name, pixels.shape, float(pixels.mean()), config.get("app"), list(state))
