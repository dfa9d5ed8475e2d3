"""The studio page's panel in Chromium (issue 18): it trains on its own, every example trains,
each MLPZen control reaches the server's settings and changes the training, presets load.

One server and one browser serve the whole module (each test opens its own page and puts the
session back to the image example with the module's small settings first), so each test
costs seconds. Tests read the page through `window.gfxnnStudio.state()` (docs/studio.md) and
check the server's side through the session's own snapshot.
"""

from __future__ import annotations

import io
import math
import time

import numpy as np
import pytest

pytest.importorskip("starlette")
sync_api = pytest.importorskip("playwright.sync_api")

from browser_support import launch, needs_chromium  # noqa: E402
from test_studio_support import running_server, small_image  # noqa: E402

from gfxnn.apps.studio.server import create_app  # noqa: E402
from gfxnn.apps.studio.session import TrainingSession  # noqa: E402
from gfxnn.fields.presets import preset_settings  # noqa: E402
from gfxnn.fields.schedule import learning_rate_at  # noqa: E402
from gfxnn.fields.settings import FitSettings  # noqa: E402

pytestmark = needs_chromium

# Small and quick: the page's behaviour, not the fit's quality.
BASE = FitSettings(batch_size=512, n_neurons=16, n_frequencies=6)


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    session = TrainingSession(
        small_image("astronaut", 48),
        BASE,
        out_dir=tmp_path_factory.mktemp("out"),
        frame_interval=0.05,
    )
    with running_server(create_app(session)) as base, sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            yield session, base, browser
        finally:
            browser.close()


class Page:
    """One page of the studio, with waits on `window.gfxnnStudio.state()`."""

    def __init__(self, browser, base: str) -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on(
            "console",
            lambda m: self.errors.append(m.text) if m.type == "error" else None,
        )
        self.page.goto(base)
        self.page.wait_for_selector("#connection.online")
        self.wait("s.version !== null && document.querySelector('#setting-batch_size')")

    def state(self) -> dict:
        return self.page.evaluate("window.gfxnnStudio.state()")

    def wait(self, condition: str, timeout_ms: int = 30_000) -> dict:
        """Wait until `condition` (JS, `s` = the page's state) holds; returns the state."""
        self.page.wait_for_function(
            f"() => {{ const s = window.gfxnnStudio.state(); return s !== null && ({condition}); }}",
            timeout=timeout_ms,
        )
        return self.state()

    def send(self, kind: str, fields: dict | None = None) -> None:
        self.page.evaluate("([t, f]) => window.gfxnnStudio.send(t, f)", [kind, fields or {}])

    def fill(self, selector: str, value: str) -> None:
        """Type a value and leave the input (the change event fires on blur)."""
        self.page.fill(selector, value)
        self.page.press(selector, "Tab")

    def check_errors(self) -> None:
        errors, self.errors = self.errors, []
        assert errors == [], errors


@pytest.fixture(scope="module")
def shared(studio):
    """One page for the module's tests (opening one costs about a second)."""
    session, base, browser = studio
    view = Page(browser, base)
    yield view
    view.page.close()


def _reset(view: Page, session, example: str | None) -> Page:
    """Learning on, BASE settings and, unless None, `example`: only what differs is sent."""
    if example is not None and view.state()["example"] != example:
        view.send("example", {"name": example})
        view.wait(f"s.example === '{example}'")
    if session.snapshot()["settings"] != BASE.to_dict():
        view.send("apply", {"settings": BASE.to_dict()})
        deadline = time.monotonic() + 15
        while view.state()["settings"] != BASE.to_dict():
            assert time.monotonic() < deadline, "BASE settings not applied"
            time.sleep(0.05)
    if not view.state()["learning"]:
        view.send("start")
        view.wait("s.learning")
    return view


@pytest.fixture
def page(studio, shared):
    """The module's page on the image example with BASE settings, learning on."""
    yield _reset(shared, studio[0], "image")
    shared.check_errors()


def _learned(view: Page, session, by: float = 2.0) -> None:
    """Wait until every network's PSNR, as the page shows it, is `by` dB above its first
    chart point (the untrained network's, measured by the server at the run's start)."""
    view.wait("s.networks.every((n) => n.psnr !== null)")
    firsts = [n["history"]["psnr"][0][1] for n in session.snapshot()["networks"]]
    above = " && ".join(f"s.networks[{i}].psnr > {p + by}" for i, p in enumerate(firsts))
    # Long timeouts cost nothing when the condition holds early; a loaded CI machine needs them.
    view.wait(above, timeout_ms=60_000)


def test_the_page_trains_on_its_own(studio):
    """Opened, with no click: learning is on, steps and PSNR rise within seconds."""
    session, base, browser = studio
    view = Page(browser, base)  # its own page: opened, then nothing clicked
    try:
        state = view.state()
        assert state["learning"]
        # the checkbox follows the state; CI once found it unchecked just after the state said
        # learning (cause not found: the panel sets both in one call), so wait for it
        view.page.wait_for_function("document.querySelector('#learning').checked")
        start = state["steps"]
        view.wait(f"s.steps > {start + 50} && s.steps_per_second > 0", timeout_ms=30_000)
        _learned(view, session, by=3.0)
        assert int(view.page.get_attribute("#prediction", "data-frames")) > 1
        assert view.page.text_content("#device").strip() != ""
        view.check_errors()
    finally:
        view.page.close()


def _npy(volume: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, volume)
    return buffer.getvalue()


@pytest.mark.parametrize("example", ["cosine", "image", "four_images", "bubbles", "volume"])
def test_each_example_trains(studio, shared, example):
    """Switching the example from the panel rebuilds the run for it; it then trains and its
    PSNR (each network's, for four images) rises."""
    session = studio[0]
    page = _reset(shared, session, None)  # from the example before: one switch each
    if example == "volume":
        z, y, x = np.mgrid[0:12, 0:16, 0:16] / 16.0
        volume = (0.5 + 0.5 * np.sin(6 * x) * np.cos(5 * y + 3 * z)).astype(np.float32)
        page.page.set_input_files(
            "#volume-upload",
            files=[{"name": "v.npy", "mimeType": "application/octet-stream",
                    "buffer": _npy(volume)}],
        )  # fmt: skip
    else:
        page.page.select_option("#example", example)
    state = page.wait(f"s.example === '{example}' && s.steps > 0")
    assert page.page.input_value("#example") == example
    three_d = example in ("bubbles", "volume")
    assert page.page.is_visible("#z-plane") == three_d
    assert page.page.is_visible("#bundled") == (example == "image")
    assert len(state["networks"]) == (4 if example == "four_images" else 1)
    assert page.page.is_visible("#networks") == (example == "four_images")
    _learned(page, session)
    if three_d:  # the slice moves without re-initialising
        steps = page.state()["steps"]
        page.page.eval_on_selector(
            "#z-plane", "(e) => { e.value = '0.2'; e.dispatchEvent(new Event('change')); }"
        )
        state = page.wait("Math.abs(s.z_plane - 0.2) < 1e-9")
        assert state["steps"] >= steps
    page.check_errors()


def test_training_controls(page, studio):
    """Steps per frame, Do Training Step, Limit Training Steps, Freeze MLP."""
    session = studio[0]
    page.page.uncheck("#learning")
    page.wait("!s.learning")
    assert page.page.is_visible("#step")
    page.fill("#setting-steps_per_frame", "4")
    page.wait("s.settings.steps_per_frame === 4")
    before = page.wait("!s.training")["steps"]
    page.page.click("#step")  # one frame's worth: 4 steps
    page.wait(f"s.steps === {before + 4}")
    page.page.keyboard.press("F6")  # MLPZen's key for it
    page.wait(f"s.steps === {before + 8}")

    # A per-frame budget replaces the step count: 300 ms of steps (about 5 ms each) per frame.
    page.page.check("#setting-frame_budget_ms-on")
    page.wait("s.settings.frame_budget_ms === 16")  # the schema's enable_value
    page.fill("#setting-frame_budget_ms", "300")
    page.wait("s.settings.frame_budget_ms === 300")
    before = page.state()["steps"]
    page.page.click("#step")
    page.wait(f"s.steps > {before + 8}")  # steps_per_frame (4) no longer counts
    page.page.uncheck("#setting-frame_budget_ms-on")
    page.wait("s.settings.frame_budget_ms === null")

    # Limit training steps: learning on, it stops at the maximum.
    page.page.check("#setting-max_steps-on")
    page.wait("s.settings.max_steps === 10000")
    limit = page.state()["steps"] + 40
    page.fill("#setting-max_steps", str(limit))
    page.wait(f"s.settings.max_steps === {limit}")
    page.page.check("#learning")
    page.wait(f"s.limit_reached && s.steps === {limit}")
    assert page.page.is_visible("#limit-reached")
    assert session.snapshot()["steps"] == limit
    page.page.uncheck("#setting-max_steps-on")
    page.wait(f"s.settings.max_steps === null && s.steps > {limit}")

    # Freeze MLP (the frequency encoding has no parameters): the prediction stops changing.
    page.page.check("#setting-freeze_mlp")
    page.wait("s.settings.freeze_mlp === true")
    frames = page.state()["frames"]
    frozen = page.wait(f"s.frames > {frames + 1}")  # a frame rendered after the freeze
    page.wait(f"s.steps > {frozen['steps'] + 30} && s.frames > {frozen['frames'] + 1}")
    assert page.state()["psnr"] == frozen["psnr"]
    page.page.uncheck("#setting-freeze_mlp")
    page.wait(f"s.settings.freeze_mlp === false && s.psnr !== {frozen['psnr']}")


def test_schedule_and_gradient_controls(page):
    """The schedule's rate, as shown, is the formula's at the step; clip and batch apply; a
    refused value is shown in the banner and its control goes back to the server's value."""
    page.fill("#setting-batch_size", "0")
    page.page.wait_for_selector("#error:not([hidden])")
    assert "batch_size" in page.page.text_content("#error-text")
    page.page.wait_for_function(
        f"document.querySelector('#setting-batch_size').value === '{BASE.batch_size}'"
    )
    page.page.select_option("#setting-lr_schedule", "cosine")
    page.wait("s.settings.lr_schedule === 'cosine'")
    assert page.page.is_visible("#setting-base_period")
    assert not page.page.is_visible("#setting-decay_steps")
    page.fill("#setting-base_period", "5")
    page.wait("s.settings.base_period === 5")
    page.page.uncheck("#learning")
    state = page.wait("!s.learning && !s.training && s.learning_rate !== null")
    state = page.wait(f"s.steps === {state['steps']}")  # settled
    expected = learning_rate_at(FitSettings.from_dict(state["settings"]), state["steps"] - 1)
    assert math.isclose(state["learning_rate"], expected, rel_tol=1e-9)
    assert page.page.text_content("#current-lr") == f"{expected:.6f}"

    page.page.select_option("#setting-lr_schedule", "linear")
    page.wait("s.settings.lr_schedule === 'linear'")
    assert page.page.is_visible("#setting-decay_steps")
    page.page.select_option("#setting-gradient_clip", "norm")
    page.wait("s.settings.gradient_clip === 'norm'")
    page.fill("#setting-clip_value", "0.25")
    page.fill("#setting-batch_size", "65536")
    page.wait("s.settings.clip_value === 0.25 && s.settings.batch_size === 65536")
    before = page.state()["steps"]
    page.page.click("#step")
    page.wait(f"s.steps === {before + 1}")


def test_architecture_and_encoding_controls(page, studio):
    """Initialisation (scheme x distribution), output activation apart from the hidden one,
    layers, neurons, FP16, hash-grid parameters: staged, applied together, reported."""
    session = studio[0]
    page.page.select_option("#setting-initialization-scheme", "he")
    page.page.select_option("#setting-initialization-kind", "gaussian")
    page.page.select_option("#setting-output_activation", "sigmoid")
    page.fill("#setting-n_layers", "3")
    page.fill("#setting-n_neurons", "24")
    page.page.select_option("#setting-encoding", "hashgrid")
    assert not page.page.is_visible("#setting-n_frequencies")
    for name, value in (("n_levels", 4), ("n_features_per_level", 4),
                        ("base_resolution", 8), ("log2_hashmap_size", 10),
                        ("per_level_scale", 1.5)):  # fmt: skip
        page.fill(f"#setting-encoding_params\\.{name}", str(value))
    assert page.page.is_visible("#apply")
    assert "1,024 entries" in page.page.text_content("#group-encoding")
    assert session.snapshot()["settings"]["encoding"] == "frequency"  # staged only
    page.page.click("#apply")
    state = page.wait("s.settings.encoding === 'hashgrid' && Object.keys(s.pending).length === 0")
    settings = state["settings"]
    assert settings["initialization"] == "he_gaussian"
    assert (settings["activation"], settings["output_activation"]) == ("leaky_relu", "sigmoid")
    assert (settings["n_layers"], settings["n_neurons"]) == (3, 24)
    assert settings["encoding_params"] == {
        "n_levels": 4, "n_features_per_level": 4, "base_resolution": 8, "log2_hashmap_size": 10,
        "per_level_scale": 1.5,
    }  # fmt: skip
    assert page.page.is_hidden("#apply-box")
    sizes = page.wait("s.sizes_kb !== null && s.sizes_kb.encoding > 0")["sizes_kb"]
    assert page.page.text_content("#grid-size") == f"{sizes['encoding']:.1f} kB"
    assert page.page.is_visible("#setting-freeze_encoding")
    _learned(page, session)
    page.page.check("#setting-precision")
    page.wait("s.settings.precision === 'fp16'")
    assert session.snapshot()["settings"]["precision"] == "fp16"

    # One-blob bins (the grid's parameters give way: the new encoding does not take them).
    page.page.select_option("#setting-encoding", "oneblob")
    assert not page.page.is_visible("#setting-encoding_params\\.n_levels")
    page.fill("#setting-encoding_params\\.n_bins", "8")
    page.page.click("#apply")
    state = page.wait("s.settings.encoding === 'oneblob'")
    assert state["settings"]["encoding_params"] == {"n_bins": 8}


@pytest.mark.parametrize("name", ["mlpzen", "dx12nn"])
def test_presets_load_their_values(page, name):
    """A preset button loads that app's defaults for the example shown."""
    page.page.click(f"#preset-{name}")
    expected = preset_settings(name, "image").to_dict()
    deadline = time.monotonic() + 15
    while page.state()["settings"] != expected:
        assert time.monotonic() < deadline, (page.state()["settings"], expected)
        time.sleep(0.05)
    assert page.page.input_value("#setting-batch_size") == str(expected["batch_size"])
    assert page.page.input_value("#setting-encoding") == expected["encoding"]


def test_a_trainer_in_the_page_takes_over(page, studio):
    """The hooks an in-page trainer uses (docs/studio.md): it sees controls first, its report
    is shown over the server's state, it draws the prediction, and the server's frames wait."""
    session = studio[0]
    seen = page.page.evaluate(
        """() => {
            const seen = [];
            window.gfxnnStudio.setTrainer({
                name: "test", handle: (type) => { seen.push(type); return type === "stop"; },
            });
            window.gfxnnStudio.report({ steps: 123456, psnr: 42.5, running: true });
            const canvas = new OffscreenCanvas(8, 4);
            const ctx = canvas.getContext("2d");
            ctx.fillStyle = "#f00";
            ctx.fillRect(0, 0, 8, 4);
            window.gfxnnStudio.drawPrediction(canvas.transferToImageBitmap());
            document.querySelector("#learning").click(); // "stop", handled in the page
            return seen;
        }"""
    )
    assert seen == ["stop"]
    state = page.state()
    assert (state["trainer"], state["steps"], state["psnr"]) == ("test", 123456, 42.5)
    assert page.page.text_content("#steps") == "123,456"
    assert page.page.text_content("#psnr") == "42.50 dB"
    frames = state["frames"]
    time.sleep(0.5)  # the server goes on training and pushing frames, none drawn
    assert session.snapshot()["running"]
    size = page.page.eval_on_selector("#prediction", "(c) => [c.width, c.height]")
    assert size == [8, 4] and page.state()["frames"] == frames
    page.page.evaluate("window.gfxnnStudio.setTrainer(null)")
    page.wait(f"s.trainer === 'server' && s.steps !== 123456 && s.frames > {frames}")
    with pytest.raises(sync_api.Error, match="setTrainer wants"):
        page.page.evaluate("window.gfxnnStudio.setTrainer({name: 'no handle'})")
