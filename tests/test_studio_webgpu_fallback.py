"""Without `--enable-unsafe-webgpu`, Debian's Chromium gives the page no WebGPU adapter: the
studio says why, does not offer "this browser's GPU", and trains on the server; in a browser
with no WebGPU at all the page works the same."""

from __future__ import annotations

import pytest

pytest.importorskip("starlette")
sync_api = pytest.importorskip("playwright.sync_api")

from browser_support import launch, needs_chromium  # noqa: E402
from test_studio_support import running_server  # noqa: E402

from gfxnn.apps.studio.server import create_app  # noqa: E402
from gfxnn.apps.studio.session import TrainingSession  # noqa: E402
from gfxnn.data.images import LoadedImage, bundled_image_source, load_bundled  # noqa: E402
from gfxnn.fields.settings import FitSettings  # noqa: E402

pytestmark = needs_chromium


NO_WEBGPU = """
for (const name of Object.getOwnPropertyNames(window)) {
  if (name.startsWith("GPU")) delete window[name];
}
Object.defineProperty(Navigator.prototype, "gpu", { get: () => undefined });
"""


def test_without_webgpu_the_page_says_why_and_trains_on_the_server(tmp_path):
    session = TrainingSession(
        LoadedImage(load_bundled("astronaut", 32), bundled_image_source("astronaut")),
        FitSettings(n_neurons=16, batch_size=256),
        out_dir=tmp_path / "out",
    )
    errors: list[str] = []
    with running_server(create_app(session)) as base, sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(base)
            page.wait_for_selector("#connection.online")
            page.evaluate("window.gfxnnBrowserTrainer.probed")
            note = page.text_content("#train-on-note")
            assert "no adapter" in note and "stays on the server" in note, note
            assert page.is_disabled("#train-on-select option[value=browser]")
            # Learning is on from the start (no click: a click racing the first state message
            # could turn it off again).
            page.wait_for_function("window.gfxnnStudio.state().learning", timeout=30_000)
            page.wait_for_function("window.gfxnnStudio.state().steps > 20", timeout=30_000)
            assert page.evaluate("window.gfxnnStudio.state().trainer") == "server"

            # A browser with no WebGPU at all (or a page that is not a secure context, where
            # the WebGPU interfaces do not exist): the page still works and says why.
            bare = browser.new_page()
            bare.on("pageerror", lambda error: errors.append(str(error)))
            bare.add_init_script(NO_WEBGPU)
            bare.goto(base)
            bare.wait_for_selector("#connection.online")
            bare.evaluate("window.gfxnnBrowserTrainer.probed")
            assert "no WebGPU" in bare.text_content("#train-on-note")
            assert bare.is_disabled("#train-on-select option[value=browser]")
        finally:
            browser.close()
    assert errors == [], errors
    assert session.snapshot()["steps"] > 20
