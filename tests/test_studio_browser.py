"""gfxnn studio in a real browser: Playwright drives Debian's Chromium against a uvicorn server
on a free loopback port. Nothing downloads a browser: the test uses /usr/bin/chromium and is
skipped (with the reason) where that is absent.

Set GFXNN_UPDATE_SCREENSHOTS=1 to rewrite docs/images/studio.png, the README's screenshot.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
sync_api = pytest.importorskip("playwright.sync_api")

from browser_support import launch, needs_chromium  # noqa: E402
from PIL import Image  # noqa: E402
from test_studio_support import png_bytes, running_server  # noqa: E402

from gfxnn.apps.studio.server import create_app  # noqa: E402
from gfxnn.apps.studio.session import TrainingSession  # noqa: E402
from gfxnn.data.images import LoadedImage, bundled_image_source, load_bundled  # noqa: E402
from gfxnn.imagefit import FitSettings  # noqa: E402

SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "images" / "studio.png"

pytestmark = needs_chromium


def _number(page, selector: str) -> float:
    text = page.text_content(selector) or ""
    cleaned = text.replace(",", "").replace("dB", "").strip()
    return float(cleaned) if cleaned not in ("", "–", "paused") else float("nan")


def _wait_number(page, selector: str, above: float, timeout_ms: int = 15_000) -> float:
    page.wait_for_function(
        """([selector, above]) => {
            const text = document.querySelector(selector).textContent.replace(/[,dB ]/g, "");
            return Number(text) > above;
        }""",
        arg=[selector, above],
        timeout=timeout_ms,
    )
    return _number(page, selector)


def _poll(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _small_screenshot(png: bytes) -> bytes:
    """A 256-colour PNG: a third of the size of the browser's, fine for a UI screenshot."""
    with Image.open(io.BytesIO(png)) as image:
        small = image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
        buffer = io.BytesIO()
        small.save(buffer, format="PNG", optimize=True)
        return buffer.getvalue()


def test_studio_in_chromium(tmp_path):
    session = TrainingSession(
        LoadedImage(load_bundled("astronaut", 128), bundled_image_source("astronaut")),
        FitSettings(batch_size=1024, n_neurons=48),
        out_dir=tmp_path / "out",
        # Paused, so that the first PSNR the page shows is the untrained network's: with
        # learning on from the start, a slow first frame (a loaded CI machine) showed a PSNR
        # already trained for many steps, and the "+3 dB" wait below could time out.
        paused=True,
    )
    errors: list[str] = []
    with running_server(create_app(session)) as base, sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1180, "height": 800})
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on(
                "console",
                lambda message: errors.append(message.text) if message.type == "error" else None,
            )
            page.goto(base)
            page.wait_for_selector("#connection.online")
            page.wait_for_selector("#setting-activation")
            assert page.text_content("#device").startswith("CPU (")
            start_psnr = _wait_number(page, "#psnr", 0.0)

            assert not page.is_checked("#learning")
            assert session.snapshot()["steps"] == 0

            # Enable learning: the counter rises and the PSNR climbs.
            page.check("#learning")
            _wait_number(page, "#steps", 200, timeout_ms=60_000)
            psnr = _wait_number(page, "#psnr", start_psnr + 3.0, timeout_ms=60_000)
            assert session.snapshot()["running"]
            # The prediction canvas has drawn frames pushed by the server.
            assert int(page.get_attribute("#prediction", "data-frames")) > 1

            # A second tab sees the same run.
            other = browser.new_page()
            other.goto(base)
            other.wait_for_selector("#connection.online")
            assert _wait_number(other, "#steps", 200) > 200
            page.wait_for_function(
                "document.querySelector('#clients').textContent.startsWith('2 pages')"
            )
            other.close()

            screenshot = page.screenshot()
            if os.environ.get("GFXNN_UPDATE_SCREENSHOTS") == "1":
                SCREENSHOT.write_bytes(_small_screenshot(screenshot))

            # Change the activation and apply: the network is rebuilt and trains again.
            page.select_option("#setting-activation", "relu")
            assert page.is_enabled("#apply")
            page.click("#apply")
            page.wait_for_function("document.querySelector('#apply').disabled")
            assert session.snapshot()["settings"]["activation"] == "relu"
            _wait_number(page, "#steps", 100)

            # A live setting applies on change and keeps training going.
            page.fill("#setting-learning_rate", "0.002")
            page.press("#setting-learning_rate", "Tab")  # the change event fires on blur
            _poll(lambda: session.snapshot()["settings"]["learning_rate"] == 0.002)
            assert session.snapshot()["steps"] > 0

            # Upload an image: the reference changes; a bad upload shows an error.
            page.set_input_files(
                "#upload",
                files=[{"name": "noise.png", "mimeType": "image/png", "buffer": png_bytes(40, 30)}],
            )
            page.wait_for_function(
                "document.querySelector('#image-info').textContent.includes('upload:noise.png')"
            )
            assert session.snapshot()["image"]["width"] == 40
            page.set_input_files(
                "#upload",
                files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}],
            )
            page.wait_for_selector("#error:not([hidden])")
            assert "not a PNG" in page.text_content("#error-text")

            # Save a checkpoint: its download link appears.
            page.click("#save")
            page.wait_for_selector("#files a")
            href = page.get_attribute("#files a", "href")
            assert href.startswith("/api/files/studio-") and href.endswith(".safetensors")
            page.uncheck("#learning")
            page.wait_for_function("document.querySelector('#rate').textContent === 'paused'")
        finally:
            browser.close()
    # The refused upload is logged by the browser as a failed 415; anything else is a bug.
    assert [e for e in errors if "status of 415" not in e] == [], errors
    assert psnr > start_psnr + 3.0
    with Image.open(io.BytesIO(screenshot)) as image:
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.std() > 10  # not a blank page
