"""`gfxnn studio --static DIR`: the folder is written (and a foreign one refused), a plain HTTP
server serves it, Chromium (SwiftShader WebGPU) trains an image dropped in, the page asks for
nothing but its own files, and its downloaded checkpoint renders with `gfxnn render` to the
page's own prediction. One browser for the module.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sync_api = pytest.importorskip("playwright.sync_api")

from browser_support import launch, needs_chromium  # noqa: E402
from PIL import Image  # noqa: E402

from gfxnn.apps.studio.static_site import StaticSiteError, write_static_site  # noqa: E402


def test_static_site_refuses_a_directory_it_did_not_write(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(StaticSiteError, match="notes.txt") as refused:
        write_static_site(foreign)
    assert "--static" in str(refused.value) and "--force" not in str(refused.value)
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    site = tmp_path / "site"
    names = write_static_site(site)
    assert {"index.html", "site.js", "train.wgsl", "gradient.wgsl", "infer.wgsl"} <= set(names)
    lines = (site / "train.wgsl").read_text().splitlines()
    assert not [line for line in lines if line.startswith("//!include")]  # resolved
    assert "fn sincos_turns" in "\n".join(lines)  # maths.wgsl, included
    write_static_site(site)  # its own previous output is replaced whole


@contextlib.contextmanager
def _file_server(directory: Path) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _gradient_png(width: int = 24, height: int = 20) -> bytes:
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x / (width - 1), y / (height - 1), 0.5 + 0 * x], axis=-1)
    buffer = io.BytesIO()
    Image.fromarray(np.round(pixels * 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@needs_chromium
def test_static_site_trains_in_the_browser_and_its_checkpoint_renders(tmp_path):
    from gfxnn.cli import main

    site = tmp_path / "site"
    assert main(["studio", "--static", str(site)]) == 0
    requests: list[str] = []
    errors: list[str] = []
    with _file_server(site) as base, sync_api.sync_playwright() as playwright:
        browser = launch(playwright, webgpu=True)
        try:
            page = browser.new_page(viewport={"width": 1180, "height": 760})
            page.on("request", lambda request: requests.append(request.url))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(base)
            page.wait_for_function("window.gfxnnBrowserTrainer !== undefined")
            assert page.evaluate("window.gfxnnBrowserTrainer.ready") is True
            assert "swiftshader" in page.text_content("#adapter").lower()
            page.set_input_files(
                "#upload",
                files=[{"name": "ramp.png", "mimeType": "image/png", "buffer": _gradient_png()}],
            )
            page.wait_for_function(
                "document.querySelector('#image-info').textContent.includes('upload:ramp.png')"
            )
            start_psnr = page.evaluate("window.gfxnnBrowserTrainer.run().psnr")
            # SwiftShader runs on this machine's CPU: small batches, a larger rate.
            for name, value in (("batch_size", "256"), ("learning_rate", "0.01")):
                _change(page, f"#{name}", value)
            assert page.evaluate("window.gfxnnBrowserTrainer.run().settings.batch_size") == 256
            _train(page, 40)
            checkpoint = _download(page, tmp_path / "browser.safetensors")
            prediction = np.asarray(
                page.evaluate("window.gfxnnBrowserTrainer.test.prediction()"), np.float32
            )
            psnr = page.evaluate("window.gfxnnBrowserTrainer.run().psnr")
        finally:
            browser.close()
    assert errors == [], errors
    assert requests and all(url.startswith(base) for url in requests), requests
    assert psnr > start_psnr + 3.0, (start_psnr, psnr)

    rendered = tmp_path / "render.png"
    assert main(["render", str(checkpoint), "-o", str(rendered)]) == 0
    with Image.open(rendered) as image:
        pixels = np.asarray(image.convert("RGB"), np.float32) / 255.0
    assert pixels.shape == (20, 24, 3)
    page_prediction = np.clip(prediction.reshape(20, 24, 3), 0.0, 1.0)
    assert np.abs(pixels - page_prediction).max() <= 1.0 / 255.0


def _open_site(playwright, base: str, errors: list[str]):
    browser = launch(playwright, webgpu=True)
    page = browser.new_page(viewport={"width": 1180, "height": 900})
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(base)
    page.wait_for_function("window.gfxnnBrowserTrainer !== undefined")
    assert page.evaluate("window.gfxnnBrowserTrainer.ready") is True
    return browser, page


@contextlib.contextmanager
def _static_page(tmp_path: Path) -> Iterator[Any]:
    """The static studio written to tmp_path/site, served and opened: its page, and no page
    error by the end."""
    from gfxnn.cli import main

    site = tmp_path / "site"
    assert main(["studio", "--static", str(site)]) == 0
    errors: list[str] = []
    with _file_server(site) as base, sync_api.sync_playwright() as playwright:
        browser, page = _open_site(playwright, base, errors)
        try:
            yield page
        finally:
            browser.close()
    assert errors == [], errors


def _download(page, path: Path) -> Path:
    """Click Save checkpoint and keep the (first) file the page downloads at `path`."""
    with page.expect_download() as download:
        page.click("#save")
    download.value.save_as(path)
    return path


def _steps(page) -> int:
    return int((page.text_content("#steps") or "0").replace(",", ""))


def _train(page, steps: int) -> None:
    start = _steps(page)
    page.check("#learning")
    page.wait_for_function(
        f"Number(document.querySelector('#steps').textContent.replace(/,/g, '')) >= {start + steps}",
        timeout=120_000,
    )
    page.uncheck("#learning")
    page.wait_for_function("window.gfxnnBrowserTrainer.run().running === false")


def _change(page, selector: str, value: str) -> None:
    page.fill(selector, value)
    page.press(selector, "Tab")  # the change event fires on blur


@needs_chromium
def test_static_site_builds_its_networks_and_examples_in_the_page(tmp_path):
    """The page builds the network its panel asks for (a refused one changes nothing),
    trains Learn Cosine and Learn Four Images, and its downloads are checkpoints that gfxnn
    reads: the cosine network predicts as the page does, an image network exports."""
    from gfxnn.apps.studio.workload import combined_psnr
    from gfxnn.cli import main
    from gfxnn.fields.checkpoint import load
    from gfxnn.fields.examples import FOUR_IMAGES
    from gfxnn.fused import make_trainer

    with _static_page(tmp_path) as page:
        run = "window.gfxnnBrowserTrainer.run()"
        # another width: a new network of that shape
        _change(page, "#net-n_neurons", "16")
        page.wait_for_function(f"{run}.model.sizes[1] === 16")
        assert "32 → 16 → 16 → 3" in page.text_content("#network-info")
        # one the kernels cannot hold: said, and the running network and panel stay
        _change(page, "#net-n_neurons", "500")
        page.wait_for_function("document.querySelector('#error').textContent.includes('500')")
        assert "n_neurons must be an integer in 1..128" in page.text_content("#error")
        assert page.evaluate(f"{run}.model.sizes[1]") == 16
        assert page.input_value("#net-n_neurons") == "16"
        _change(page, "#batch_size", "256")

        # Learn Cosine: 1 -> 1, trained past what any constant reaches (9 dB)
        page.select_option("#example", "cosine")
        page.wait_for_function(f"{run}.target.example === 'cosine'")
        assert page.evaluate(f"{run}.trainer.spec.n_input_dims") == 1
        _train(page, 150)
        page.wait_for_function(f"{run}.psnr > 20", timeout=30_000)
        cosine = _download(page, tmp_path / "cosine.safetensors")
        cosine_prediction = np.asarray(
            page.evaluate("window.gfxnnBrowserTrainer.test.prediction()"), np.float32
        )

        # Learn Four Images: four networks, each learning its own image
        page.select_option("#example", "four_images")
        page.wait_for_function(f"{run}.n_networks === 4 && {run}.psnr !== null")
        starts = page.evaluate(f"{run}.runs.map((r) => r.psnr)")
        _train(page, 60)
        page.wait_for_function(
            f"{run}.runs.every((r, i) => r.psnr > [{','.join(map(str, starts))}][i] + 1.5)",
            timeout=30_000,
        )
        psnrs = page.evaluate(f"{run}.runs.map((r) => r.psnr)")
        assert page.evaluate(f"{run}.psnr") == pytest.approx(combined_psnr(psnrs), abs=1e-9)
        shown = page.text_content("#networks")
        assert all(name in shown for name in FOUR_IMAGES), shown
        frame = page.evaluate("(c => [c.width, c.height])(document.querySelector('#prediction'))")
        assert frame[0] % 2 == 0 and frame[1] % 2 == 0 and frame[0] >= 4
        # four files; the first is network 0's
        astronaut = _download(page, tmp_path / "astronaut.safetensors")

    # The cosine checkpoint is a 1 -> 1 network: the CPU trainer predicts what the page showed.
    loaded = load(cosine)
    assert loaded.config["example"]["name"] == "cosine"
    assert (
        loaded.config["example"]["n_input_dims"],
        loaded.config["example"]["n_output_dims"],
    ) == (1, 1)
    trainer = make_trainer(loaded.settings.model_spec(1, 1), initialize=False)
    trainer.load_state_dict(loaded.state)
    x = (np.arange(256, dtype=np.float32) / 255)[:, None]
    np.testing.assert_allclose(trainer.infer(x)[:, 0], cosine_prediction, atol=1e-4)
    # A network of the four is an image network: gfxnn export writes its shader.
    shader = tmp_path / "astronaut.glsl"
    assert main(["export", str(astronaut), "--format", "glsl", "-o", str(shader)]) == 0
    assert "vec3" in shader.read_text()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@needs_chromium
def test_static_site_trains_a_volume_it_is_given(tmp_path):
    """A .npy volume chosen in the page is checked as gfxnn checks one (a value outside [0, 1]
    is refused, naming its index), then the volume example trains it (2 channels: a 3 -> 2
    network) and its checkpoint records the example."""
    from gfxnn.fields.checkpoint import load

    z, y, x = np.meshgrid(*(np.linspace(0, 1, n) for n in (8, 12, 16)), indexing="ij")
    volume = np.stack([x, 0.5 + 0.5 * np.sin(3 * y + z)], axis=-1).astype(np.float32)
    bad = volume.copy()
    bad[1, 2, 3, 1] = 2.0
    with _static_page(tmp_path) as page:
        run = "window.gfxnnBrowserTrainer.run()"
        files = [{"name": "bad.npy", "mimeType": "application/octet-stream", "buffer": _npy(bad)}]
        page.set_input_files("#volume-upload", files=files)
        page.wait_for_function("document.querySelector('#error').textContent.includes('2')")
        assert "index (1,2,3,1)" in page.text_content("#error"), page.text_content("#error")
        assert page.evaluate(f"{run}.target.example") == "image"  # nothing changed
        _change(page, "#batch_size", "256")
        files = [
            {
                "name": "ramps.npy",
                "mimeType": "application/octet-stream",
                "buffer": _npy(volume),
            }
        ]
        page.set_input_files("#volume-upload", files=files)
        page.wait_for_function(f"{run}.target.example === 'volume'")
        assert page.evaluate(f"{run}.trainer.spec.n_output_dims") == 2
        assert page.evaluate(f"{run}.target.grid") == [16, 12, 8]
        _train(page, 150)
        page.wait_for_function(f"{run}.psnr > 20", timeout=30_000)  # a constant: ~11 dB
        checkpoint = _download(page, tmp_path / "volume.safetensors")
    example = load(checkpoint).config["example"]
    assert example["name"] == "volume" and example["grid_shape"] == [8, 12, 16]
    assert (example["n_input_dims"], example["n_output_dims"]) == (3, 2)
    assert example["source"] == "upload:ramps.npy"


@needs_chromium
def test_static_site_presets_and_live_controls(tmp_path):
    """The panel's presets build gfxnn.fields.presets' network for the example (plans.js's
    model equals static_site.browser_model of preset_settings), and the schedule and clip
    fields reach the run live; a bad one is refused with its name."""
    from gfxnn.apps.studio.static_site import browser_model
    from gfxnn.fields.presets import preset_settings

    with _static_page(tmp_path) as page:
        run = "window.gfxnnBrowserTrainer.run()"
        for example, d, c in (("image", 2, 3), ("cosine", 1, 1), ("bubbles", 3, 3)):
            page.select_option("#example", example)
            page.wait_for_function(f"{run}.target.example === '{example}'")
            for preset in ("mlpzen", "dx12nn"):
                page.click(f"#preset-{preset}")
                settings = preset_settings(preset, example)
                page.wait_for_function(
                    f"{run}.settings.batch_size === {settings.batch_size}"
                    f" && {run}.settings.encoding === '{settings.encoding}'"
                )
                got = page.evaluate(f"{run}.model")
                expected = browser_model(settings, d, c)
                for key in ("sizes", "n_table", "constants", "choices", "meta_levels", "names"):
                    assert json.loads(json.dumps(expected[key])) == got[key], (
                        example,
                        preset,
                        key,
                    )
                assert got["settings"]["lr_schedule"] == settings.lr_schedule
        # live: the schedule's parameters and the clip reach the running network
        for name, value in (("lr_schedule", "cosine"), ("gradient_clip", "norm")):
            page.select_option(f"#{name}", value)
        _change(page, "#base_period", "7")
        _change(page, "#clip_value", "0.25")
        page.wait_for_function(f"{run}.trainer.controls.clip === 'norm'")
        assert page.evaluate(f"{run}.settings.base_period") == 7
        assert page.evaluate(f"{run}.trainer.controls.clipValue") == 0.25
        _change(page, "#decay_steps", "0")
        page.wait_for_function(
            "document.querySelector('#error').textContent.includes('decay_steps')"
        )
        assert "decay_steps must be an integer >= 1" in page.text_content("#error")
