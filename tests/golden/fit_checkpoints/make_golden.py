"""Write the golden checkpoints with the code of commit 0c808cc (run with PYTHONPATH=/tmp/golden_src/src)."""
import shutil, sys
from pathlib import Path
import numpy as np
from gfxnn.apps.render import load_fit_checkpoint
from gfxnn.imagefit import render_image, model_from_checkpoint
from gfxnn.data.images import LoadedImage, load_bundled, bundled_image_source
from gfxnn.apps.studio.session import TrainingSession
from gfxnn.imagefit import FitSettings

out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
shutil.copy("/tmp/golden_run/checkpoint.safetensors", out / "fit_frequency.safetensors")
shutil.copy("/tmp/golden_hash/checkpoint.safetensors", out / "fit_hashgrid.safetensors")
# A studio checkpoint (its own config dict) with a GaussianFourier encoding (fixed matrix B).
settings = FitSettings(batch_size=128, n_neurons=8, n_layers=3, encoding="gaussianfourier",
                       encoding_params={"n_frequencies": 6}, activation="relu", output_activation="sigmoid")
session = TrainingSession(LoadedImage(load_bundled("half"), bundled_image_source("half")), settings,
                          out_dir="/tmp/golden_studio")
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
