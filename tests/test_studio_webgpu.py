"""Training in the page: the studio's JavaScript WebGPU driver (static/browser/) in Debian's
Chromium, whose SwiftShader adapter runs WebGPU on the CPU (`--enable-unsafe-webgpu`; the page
comes from 127.0.0.1, where navigator.gpu exists), against the Python WebGpuTrainer on Mesa's
lavapipe. One browser for the module.
"""

from __future__ import annotations

import io
import json
import tempfile
import urllib.request

import numpy as np
import pytest

pytest.importorskip("starlette")
sync_api = pytest.importorskip("playwright.sync_api")

from browser_support import launch, needs_chromium  # noqa: E402
from test_studio_support import running_server  # noqa: E402
from webgpu_reference import require_webgpu  # noqa: E402

from gfxnn.apps.studio.server import create_app  # noqa: E402
from gfxnn.apps.studio.session import TrainingSession  # noqa: E402
from gfxnn.apps.studio.static_site import browser_model, kernel_sources  # noqa: E402
from gfxnn.data.images import LoadedImage, bundled_image_source, load_bundled  # noqa: E402
from gfxnn.fields.settings import FitSettings  # noqa: E402
from gfxnn.io import load_checkpoint  # noqa: E402

WEIGHT_TOLERANCE = 1e-5  # absolute, after 3 steps at lr 1e-2 (measured: 0.0 frequency, 7e-9 grid)

pytestmark = needs_chromium

GRID = {"n_levels": 4, "log2_hashmap_size": 7, "base_resolution": 4, "per_level_scale": 2.0}
SETTINGS = {
    "frequency": FitSettings(n_neurons=16, batch_size=192, learning_rate=1e-2),
    # the grid, with the "norm" clip (its two reductions) binding at every step
    "hashgrid_norm_clip": FitSettings(
        n_neurons=16,
        batch_size=192,
        learning_rate=1e-2,
        encoding="hashgrid",
        encoding_params=GRID,
        gradient_clip="norm",
        clip_value=0.05,
    ),
}


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """(page, base URL, session) of a studio in one Chromium for the whole module."""
    session = TrainingSession(
        LoadedImage(load_bundled("astronaut", 32), bundled_image_source("astronaut")),
        FitSettings(n_neurons=16, batch_size=256, learning_rate=0.01),
        out_dir=tmp_path_factory.mktemp("out"),
        paused=True,
    )
    errors: list[str] = []
    with running_server(create_app(session)) as base, sync_api.sync_playwright() as playwright:
        browser = launch(playwright, webgpu=True)
        try:
            page = browser.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda message: _console_error(message, errors))
            page.on("response", lambda response: _bad_response(response, errors))
            page.goto(base + "/api/schema")  # a page of the origin; the tests import the modules
            yield page, base, session
        finally:
            browser.close()
    assert errors == [], errors


def _console_error(message, errors: list[str]) -> None:
    # A failed load is reported with its URL by _bad_response.
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        errors.append(message.text)


def _bad_response(response, errors: list[str]) -> None:
    if response.status >= 400 and not response.url.endswith("/favicon.ico"):
        errors.append(f"{response.status} {response.url}")


AGREEMENT = """async ([model, sources, init, batches, options]) => {
  const { requestGpu } = await import("/static/browser/device.js");
  const { BrowserTrainer } = await import("/static/browser/trainer.js");
  const gpu = await requestGpu();
  const trainer = new BrowserTrainer(gpu, model, sources, options);
  trainer.loadWeights(init);
  const losses = [];
  for (const [inputs, targets] of batches) {
    losses.push(await trainer.computeGradients(inputs, targets));
    await trainer.update();
  }
  const weights = Array.from(await trainer.readWeights());
  const slices = trainer._batch.nSlices;
  trainer.destroy();
  gpu.device.destroy();
  return { adapter: gpu.name, losses, weights, slices };
}"""


# Batches cut into several slices (each a pass of its own over the scratch buffers): a
# scratch binding of 16 KiB holds 64 rows of the 16-neuron network's 64 activations, so a
# batch of 200 takes 4 slices, the last one partly padding.
SLICED_BINDING = 4 * 64 * 64


@pytest.mark.parametrize("sliced", [False, True], ids=["one_slice", "four_slices"])
@pytest.mark.parametrize("encoding", list(SETTINGS))
def test_three_steps_in_the_page_match_the_python_webgpu_trainer(
    studio, encoding, sliced, monkeypatch
):
    require_webgpu()
    from gfxnn.webgpu import WebGpuTrainer, layout

    page, _, _ = studio
    settings = SETTINGS[encoding]
    batch = 200 if sliced else 192
    if sliced:
        real_plan = layout.batch_plan
        monkeypatch.setattr(
            layout, "batch_plan", lambda b, columns, _: real_plan(b, columns, SLICED_BINDING)
        )
    python = WebGpuTrainer(settings.model_spec())
    start = np.concatenate([value.reshape(-1) for value in python.state_dict().values()])
    rng = np.random.default_rng(3)
    batches = [
        (rng.random((batch, 2), dtype=np.float32), rng.random((batch, 3), dtype=np.float32))
        for _ in range(3)
    ]
    losses = []
    for inputs, targets in batches:
        losses.append(python.compute_gradients(inputs, targets))
        python.update()
    expected = np.concatenate([value.reshape(-1) for value in python.state_dict().values()])

    fed = [[x.reshape(-1).tolist(), t.reshape(-1).tolist()] for x, t in batches]
    options = {"maxBinding": SLICED_BINDING} if sliced else {}
    result = page.evaluate(
        AGREEMENT, [browser_model(settings), kernel_sources(), start.tolist(), fed, options]
    )
    assert "swiftshader" in result["adapter"].lower()
    assert result["slices"] == (python._batch.n_slices if sliced else 1)
    assert result["slices"] == (4 if sliced else 1)
    weights = np.asarray(result["weights"], np.float32)
    assert np.abs(expected - start).max() > 1e-3  # the steps moved the weights
    assert np.abs(weights - expected).max() <= WEIGHT_TOLERANCE
    np.testing.assert_allclose(result["losses"], losses, rtol=1e-6)


def _browser_mode(page, base: str) -> None:
    """Open the studio and switch it to training in the page."""
    page.goto(base)
    page.wait_for_selector("#connection.online")
    page.evaluate("window.gfxnnBrowserTrainer.probed")
    page.select_option("#train-on-select", "browser")
    page.wait_for_function("window.gfxnnStudio.state().trainer === 'browser'", timeout=30_000)


def _page_state(page) -> dict:
    return page.evaluate("window.gfxnnStudio.state()")


def _wait_steps(page, above: int, timeout_ms: int = 60_000) -> None:
    page.wait_for_function(f"window.gfxnnStudio.state().steps > {above}", timeout=timeout_ms)


def _server_weights(base: str) -> np.ndarray:
    with urllib.request.urlopen(base + "/api/weights.safetensors") as reply:
        return _flat(_tensors(reply.read()))


def _flat(tensors: dict[str, np.ndarray]) -> np.ndarray:
    """The weights flat in the trainers' order (layer by layer, weight then bias)."""
    return np.concatenate([tensors[name].reshape(-1) for name in sorted(tensors, key=_order)])


def _order(name: str) -> tuple[int, str]:
    parts = name.split(".")
    return (int(parts[1]) if parts[0] == "layers" else 10**6, parts[-1] != "weight")


def test_browser_mode_trains_in_the_page_while_the_server_idles(studio):
    page, base, session = studio
    page.goto(base)
    page.wait_for_selector("#connection.online")
    page.evaluate("window.gfxnnBrowserTrainer.probed")
    option = page.text_content("#train-on-select option[value=browser]")
    assert "swiftshader" in option.lower()  # the adapter's name is shown
    page.check("#learning")  # the server trains first
    _wait_steps(page, 20)
    page.select_option("#train-on-select", "browser")
    page.wait_for_function("window.gfxnnStudio.state().trainer === 'browser'", timeout=30_000)
    assert not session.snapshot()["running"]  # the server paused when the page took over
    assert _page_state(page)["learning"]  # learning stays on, now in the page
    # Initialize weights: the server draws them (it keeps the settings), the page takes them.
    page.uncheck("#learning")
    page.click("#reset")
    # the page's run restarted from them (its PSNR is measured again, from null)
    page.wait_for_function(
        "(r => r.steps === 0 && r.psnr !== null)(window.gfxnnBrowserTrainer.run())",
        timeout=30_000,
    )
    before = session.snapshot()["steps"]
    start = {"psnr": page.evaluate("window.gfxnnBrowserTrainer.run().psnr")}
    page.check("#learning")
    _wait_steps(page, 150)
    state = _page_state(page)
    assert state["psnr"] > start["psnr"] + 2.0, (start["psnr"], state["psnr"])
    assert state["steps_per_second"] > 0 and "webgpu" in state["backend"]
    # SwiftShader has timestamp queries: the training pass's own time per step is shown
    assert state["timings_ms"]["Device (per step)"] > 0
    assert session.snapshot()["steps"] == before  # the server's trainer stayed idle

    # A lost device is reported; training resumes on a new one from the last snapshot.
    page.evaluate("window.gfxnnBrowserTrainer.test.loseDevice()")
    page.wait_for_selector("#train-on-resume:not([hidden])")
    assert "lost" in page.text_content("#train-on-note")
    lost_at = _page_state(page)["steps"]
    page.click("#train-on-resume")
    _wait_steps(page, lost_at + 20)

    # Switching back carries the page's weights to the server.
    page.uncheck("#learning")
    page.wait_for_function("window.gfxnnBrowserTrainer.run().running === false")
    weights = np.asarray(page.evaluate("window.gfxnnBrowserTrainer.test.readWeights()"))
    # Save checkpoint in browser mode: the page's weights go to the server, which writes them.
    page.click("#save")
    page.wait_for_function("document.querySelectorAll('#files a').length > 0", timeout=30_000)
    saved = [f for f in session.snapshot()["files"] if f["name"].endswith(".safetensors")]
    tensors, _ = load_checkpoint(session.saved_file(saved[-1]["name"]).path)
    np.testing.assert_array_equal(_flat(tensors), weights.astype(np.float32))
    page.select_option("#train-on-select", "server")
    page.wait_for_function("window.gfxnnStudio.state().trainer === 'server'", timeout=30_000)
    assert session.snapshot()["browser_steps"] >= lost_at + 20
    np.testing.assert_array_equal(_server_weights(base), weights.astype(np.float32))


def test_the_pages_learning_rate_schedule_is_gfxnn_fields_schedule(studio):
    from gfxnn.fields.schedule import learning_rates_at

    page, _, _ = studio
    cases = [
        FitSettings(lr_schedule="linear", decay_steps=50, max_learning_rate=0.05),
        FitSettings(
            lr_schedule="cosine",
            base_period=7,
            min_learning_rate=1e-5,
            encoding="hashgrid",
            encoding_learning_rate=0.01,
        ),
        FitSettings(encoding="hashgrid", encoding_learning_rate=0.02),  # fixed
    ]
    steps = [0, 1, 13, 14, 41, 42, 49, 50, 51, 200, 1000, 13_999]
    rates = page.evaluate(
        """async ([cases, steps]) => {
          const { learningRatesAt } = await import("/static/browser/run.js");
          return cases.map((settings) => steps.map((step) => learningRatesAt(settings, step)));
        }""",
        [[settings.to_dict() for settings in cases], steps],
    )
    for settings, row in zip(cases, rates, strict=True):
        expected = [learning_rates_at(settings, step) for step in steps]
        np.testing.assert_allclose(row, expected, rtol=1e-12)


def test_the_pages_batch_plan_is_the_python_backends(studio):
    from gfxnn.webgpu import layout

    page, _, _ = studio
    cases = [
        (batch, columns, binding)
        for batch in (1, 63, 64, 192, 2048, 65_536, 262_144, 1_000_003)
        for columns in (3, 131, 416)
        for binding in (128 * 2**20, 2**30, 4 * 416 * 64)
    ]
    plans = page.evaluate(
        """async (cases) => {
          const { batchPlan } = await import("/static/browser/device.js");
          return cases.map(([b, c, m]) => {
            const p = batchPlan(b, c, m);
            return [p.batch, p.chunkRows, p.sliceRows, p.nSlices, p.nChunks, p.padded];
          });
        }""",
        cases,
    )
    for (batch, columns, binding), plan in zip(cases, plans, strict=True):
        expected = layout.batch_plan(batch, columns, binding)
        assert plan == [
            expected.batch,
            expected.chunk_rows,
            expected.slice_rows,
            expected.n_slices,
            expected.n_chunks,
            expected.padded,
        ], (batch, columns, binding)


def _example_volume() -> np.ndarray:
    """A 12 x 16 x 20 RGB volume, smooth in every axis (z, y, x ramps): learnable in a
    hundred steps."""
    z, y, x = np.meshgrid(*(np.linspace(0, 1, n) for n in (12, 16, 20)), indexing="ij")
    return np.stack([x, y, 0.5 + 0.5 * np.sin(3 * z)], axis=-1).astype(np.float32)


# dB the page's display PSNR passes after 200 steps (measured at load 4: volume 29.9, cosine
# 36.2, bubbles 14.5); the best constant prediction reaches about 11 (the volume's ramps),
# 9.0 (cosine) and 7.7 (the bubbles' z = 0.5 slice).
PSNR_FLOORS = {"volume": 20.0, "cosine": 20.0, "bubbles": 11.0}


@pytest.mark.parametrize("example", list(PSNR_FLOORS))
def test_other_examples_train_in_the_page_while_the_server_idles(studio, example):
    page, base, session = studio
    if example == "volume":
        session.set_volume(_example_volume(), "ramps")
    else:
        session.set_example(example)
    page.goto(base)
    page.wait_for_selector("#connection.online")
    page.evaluate("window.gfxnnBrowserTrainer.probed")
    assert _page_state(page)["example"] == example
    page.select_option("#train-on-select", "browser")
    page.wait_for_function("window.gfxnnStudio.state().trainer === 'browser'", timeout=30_000)
    assert page.evaluate("window.gfxnnBrowserTrainer.run().target.example") == example
    page.wait_for_function("window.gfxnnBrowserTrainer.run().psnr !== null", timeout=30_000)
    start = page.evaluate("window.gfxnnBrowserTrainer.run().psnr")
    before = session.snapshot()["steps"]
    page.check("#learning")
    _wait_steps(page, 200)
    page.uncheck("#learning")
    page.wait_for_function("window.gfxnnBrowserTrainer.run().running === false")
    page.evaluate("window.gfxnnBrowserTrainer.test.readWeights()")  # every step done
    # the prediction shown after the steps (the display's PSNR) is closer, and beyond what
    # any constant reaches (so a wrong target cannot pass)
    floor = max(start + 1.0, PSNR_FLOORS[example])
    page.wait_for_function(f"window.gfxnnBrowserTrainer.run().psnr > {floor}", timeout=30_000)
    assert session.snapshot()["steps"] == before  # the server's trainer stayed idle
    frames = int(page.get_attribute("#prediction", "data-frames") or 0)
    assert frames > 1
    page.select_option("#train-on-select", "server")
    page.wait_for_function("window.gfxnnStudio.state().trainer === 'server'", timeout=30_000)
    assert session.snapshot()["browser_steps"] >= 200


def test_the_pages_cosine_and_bubbles_are_gfxnn_fields_examples(studio):
    from gfxnn.fields.examples import BUBBLES, BubblesTarget, CosineTarget

    page, _, _ = studio
    rng = np.random.default_rng(7)
    points = rng.random((4096, 3), dtype=np.float32)
    # on the spheres' edges too: centre + radius along x (float32 rounding decides there)
    edges = [[c[0] + r, c[1], c[2]] for c, _, r in BUBBLES]
    points = np.concatenate([points, np.asarray(edges, np.float32)])
    got = page.evaluate(
        """async ([points, seed]) => {
          const ex = await import("/static/browser/examples.js");
          const colours = new Float32Array(3 * points.length);
          points.forEach(([x, y, z], i) => ex.bubbleColourAt(x, y, z, colours, 3 * i));
          const cos = Float32Array.from(points, ([x]) => ex.cosineAt(x));
          // the host batches the page trains on (inputs, targets) for each example
          const batches = {};
          for (const [example, d] of [["cosine", 1], ["bubbles", 3]]) {
            const model = { example, spec: { n_input_dims: d, n_output_dims: d, seed } };
            const grid = d === 1 ? [256, 1] : [2, 2, 2, 3];
            const target = ex.pageTarget(model, { values: null, shape: grid });
            const inputs = new Float32Array(500 * d), targets = new Float32Array(500 * d);
            target.draw(inputs, targets, 500);
            batches[example] = [Array.from(inputs), Array.from(targets)];
          }
          return { colours: Array.from(colours), cos: Array.from(cos), batches };
        }""",
        [points.tolist(), 1337],
    )
    np.testing.assert_array_equal(
        np.asarray(got["colours"], np.float32).reshape(-1, 3), BubblesTarget.colour_at(points)
    )
    np.testing.assert_allclose(
        got["cos"], CosineTarget.values_at(points[:, :1].astype(np.float64))[:, 0], atol=1e-6
    )
    x, t = (np.asarray(v, np.float32) for v in got["batches"]["cosine"])
    assert x.min() >= 0.0 and x.max() < 1.0 and x.std() > 0.2  # uniform in [0, 1)
    np.testing.assert_allclose(t, CosineTarget.values_at(x.astype(np.float64)), atol=1e-6)
    x, t = (np.asarray(v, np.float32).reshape(-1, 3) for v in got["batches"]["bubbles"])
    assert x.min() >= 0.0 and x.max() < 1.0
    np.testing.assert_array_equal(t, BubblesTarget.colour_at(x))


def test_switching_the_example_in_browser_mode_rebuilds_in_the_page(studio):
    page, base, session = studio
    session.set_example("cosine")
    _browser_mode(page, base)
    before = session.snapshot()["steps"]
    page.evaluate("window.gfxnnStudio.send('example', {name: 'bubbles'})")
    page.wait_for_function(
        "window.gfxnnBrowserTrainer.run().target.example === 'bubbles'", timeout=30_000
    )
    assert page.evaluate("window.gfxnnBrowserTrainer.run().trainer.spec.n_input_dims") == 3
    page.check("#learning")
    _wait_steps(page, 20)
    page.uncheck("#learning")
    assert session.snapshot()["steps"] == before
    assert _page_state(page)["trainer"] == "browser"
    page.select_option("#train-on-select", "server")
    page.wait_for_function("window.gfxnnStudio.state().trainer === 'server'", timeout=30_000)


def _canvas(page, selector: str) -> np.ndarray:
    """(H, W, 3) uint8 pixels of a canvas."""
    width, height, data = page.evaluate(
        """(selector) => {
          const canvas = document.querySelector(selector);
          const image = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
          return [canvas.width, canvas.height, Array.from(image.data)];
        }""",
        selector,
    )
    return np.asarray(data, np.uint8).reshape(height, width, 4)[..., :3]


def _preview_samples(reference: np.ndarray, width: int, height: int) -> np.ndarray:
    """The reference at the page's preview points (run.js _sampled: i / (n - 1), nearest)."""
    rows, columns = reference.shape[:2]
    at = lambda i, n, size: np.minimum((i / max(n - 1, 1) * size).astype(int), size - 1)  # noqa: E731
    return reference[at(np.arange(height), height, rows)][:, at(np.arange(width), width, columns)]


def test_learn_four_images_trains_its_four_networks_in_the_page(studio):
    from gfxnn.apps.studio.workload import combined_psnr
    from gfxnn.fields.examples import FOUR_IMAGES

    page, base, session = studio
    session.set_example("image")
    _browser_mode(page, base)
    # the example switch in browser mode: the page now runs four networks
    page.evaluate("window.gfxnnStudio.send('example', {name: 'four_images'})")
    page.wait_for_function(
        "(r => r.n_networks === 4 && r.psnr !== null)(window.gfxnnBrowserTrainer.run())",
        timeout=60_000,
    )
    starts = page.evaluate("window.gfxnnBrowserTrainer.run().runs.map((r) => r.psnr)")
    before = session.snapshot()
    page.check("#learning")
    _wait_steps(page, 100, timeout_ms=120_000)
    page.uncheck("#learning")
    page.wait_for_function("window.gfxnnBrowserTrainer.run().running === false")
    weights = page.evaluate("window.gfxnnBrowserTrainer.test.readAllWeights()")  # steps done
    page.wait_for_function(
        """(starts) => window.gfxnnBrowserTrainer.run().runs.every(
            (r, i) => r.psnr > starts[i] + 2.0)""",
        arg=starts,
        timeout=30_000,
    )
    state = _page_state(page)
    assert session.snapshot()["steps"] == before["steps"]  # the server's trainer stayed idle
    assert [n["label"] for n in state["networks"]] == list(FOUR_IMAGES)
    psnrs = [n["psnr"] for n in state["networks"]]
    assert state["psnr"] == pytest.approx(combined_psnr(psnrs), abs=1e-9)
    steps = state["steps"]

    # The 2x2 frame: quadrant i is network i's prediction, nearer its own image than any other.
    frame = _canvas(page, "#prediction").astype(np.float64) / 255
    h, w = frame.shape[0] // 2, frame.shape[1] // 2
    assert frame.shape[:2] == (2 * h, 2 * w) and w > 1
    references = [np.load(io.BytesIO(session.target_npy(i))) for i in range(4)]
    for i in range(4):
        quadrant = frame[(i // 2) * h : (i // 2 + 1) * h, (i % 2) * w : (i % 2 + 1) * w]
        errors = [np.mean((quadrant - _preview_samples(r, w, h)) ** 2) for r in references]
        assert int(np.argmin(errors)) == i, (i, errors)

    # Back to the server: each network takes its own weights; the steps are counted once.
    page.select_option("#train-on-select", "server")
    page.wait_for_function("window.gfxnnStudio.state().trainer === 'server'", timeout=30_000)
    assert session.snapshot()["browser_steps"] == before["browser_steps"] + steps
    for i in range(4):
        with urllib.request.urlopen(f"{base}/api/weights.safetensors?network={i}") as reply:
            served = _tensors(reply.read())
        np.testing.assert_array_equal(_flat(served), np.asarray(weights[i], np.float32))
    session.set_example("image")


def _tensors(data: bytes) -> dict[str, np.ndarray]:
    with tempfile.NamedTemporaryFile(suffix=".safetensors") as file:
        file.write(data)
        file.flush()
        tensors, _ = load_checkpoint(file.name)
    return tensors


PRECISION_PATH = """async ([model, sources]) => {
  const { requestGpu } = await import("/static/browser/device.js");
  const { BrowserTrainer } = await import("/static/browser/trainer.js");
  const real = await requestGpu();
  // SwiftShader has no shader-f16: say it has, and see which shader the inference compiles
  const gpu = { ...real, f16: true };
  const compiled = [];
  const create = real.device.createShaderModule.bind(real.device);
  real.device.createShaderModule = (descriptor) => {
    compiled.push(descriptor.label);
    return create(descriptor);
  };
  const trainer = new BrowserTrainer(gpu, model, sources);
  trainer.loadWeights(new Float32Array(trainer.nWeights).fill(0.1));
  real.device.pushErrorScope("validation");
  let values = null;
  try {
    values = Array.from(await trainer.render([4, 4]));
  } catch (error) {
    values = String(error);
  }
  const error = await real.device.popErrorScope();
  trainer.destroy();
  real.device.destroy();
  return { compiled, values, error: error ? error.message : null };
}"""


def test_precision_fp16_in_the_page(studio):
    """The page's fp16 inference is infer_f16.wgsl, on a device with shader-f16 (SwiftShader
    has none: it rejects the file, which shows the page chose it); without the feature,
    choosing fp16 in browser mode says why and training goes back to the server."""
    page, base, session = studio
    settings = FitSettings(n_neurons=16, batch_size=192, precision="fp16")
    fp16 = page.evaluate(PRECISION_PATH, [browser_model(settings), kernel_sources()])
    assert "infer_f16.wgsl" in fp16["compiled"] and "infer.wgsl" not in fp16["compiled"], fp16
    assert fp16["error"] is not None and "f16" in fp16["error"], fp16
    settings = FitSettings(n_neurons=16, batch_size=192)
    fp32 = page.evaluate(PRECISION_PATH, [browser_model(settings), kernel_sources()])
    assert "infer.wgsl" in fp32["compiled"] and "infer_f16.wgsl" not in fp32["compiled"]
    assert fp32["error"] is None and len(fp32["values"]) == 4 * 4 * 3

    session.set_example("image")
    _browser_mode(page, base)
    page.evaluate(
        "window.gfxnnStudio.send('apply', {settings: {...window.gfxnnStudio.settings(), precision: 'fp16'}})"
    )
    page.wait_for_function("window.gfxnnStudio.state().trainer === 'server'", timeout=30_000)
    note = page.text_content("#train-on-note")
    assert "shader-f16" in note and "swiftshader" in note.lower() and "server" in note, note
    assert session.snapshot()["settings"]["precision"] == "fp16"  # the server's CPU trainer runs it
    session.apply({"precision": "fp32"})


def _plan_cases() -> list[tuple[dict, int, int]]:
    """(settings changes, n_input_dims, n_output_dims): every encoding the static site offers
    on every example shape, with MLPs of other widths, depths, activations, losses and
    optimizers than the plan's."""
    from gfxnn.apps.studio.static_site import SITE_ENCODINGS, plan_changes

    rng = np.random.default_rng(5)
    mlps = [
        {"n_neurons": 1, "n_layers": 3},
        {"n_neurons": 128, "n_layers": 8, "activation": "relu", "loss": "l1"},
        {"n_neurons": 17, "n_layers": 5, "activation": "sine", "output_activation": "sigmoid"},
        {"optimizer": "sgd", "learning_rate": 0.3, "loss": "relative_l2", "seed": 9},
        {"initialization": "he_gaussian", "encoding_learning_rate": 0.02, "beta1": 0.8},
        {"freeze_mlp": True, "gradient_clip": "norm", "clip_value": 0.1, "precision": "fp16"},
    ]
    cases = []
    for name in SITE_ENCODINGS:
        for d, c in ((1, 1), (2, 3), (3, 3)):
            for mlp in rng.permutation(len(mlps))[:3]:
                cases.append(({**plan_changes(name, d), **mlps[mlp]}, d, c))
    return cases


def test_the_static_pages_networks_are_layout_model_plan(studio):
    """plans.js builds any MLP around an encoding Python planned: every field equals
    static_site.browser_model (layout.model_plan) of the same settings."""
    from gfxnn.apps.studio.static_site import SITE_START, _ids

    page, _, _ = studio
    cases = _plan_cases()
    plans, wanted, settings = [], [], []
    for changes, d, c in cases:
        encoding = {
            k: v
            for k, v in changes.items()
            if k in ("encoding", "encoding_params", "n_frequencies")
        }
        plans.append(browser_model(FitSettings(**SITE_START, **encoding), d, c))
        full = FitSettings(**{**SITE_START, **changes})
        settings.append(full.to_dict())
        wanted.append(json.loads(json.dumps(browser_model(full, d, c))))  # as the page gets it
    built = page.evaluate(
        """async ([plans, settings, ids]) => {
          const { composeModel } = await import("/static/browser/plans.js");
          return plans.map((plan, i) => composeModel(plan, settings[i], ids));
        }""",
        [plans, settings, _ids()],
    )
    for (changes, d, c), got, expected in zip(cases, built, wanted, strict=True):
        for key in expected:
            assert got[key] == expected[key], (changes, d, c, key)
    refused = page.evaluate(
        """async ([plan, settings, ids]) => {
          const { composeModel } = await import("/static/browser/plans.js");
          const messages = [];
          for (const change of [{ n_neurons: 129 }, { n_layers: 2 }, { activation: "gelu" }, { loss: "huber" }]) {
            try { composeModel(plan, { ...settings, ...change }, ids); messages.push(null); }
            catch (error) { messages.push(error.message); }
          }
          return messages;
        }""",
        [plans[0], settings[0], _ids()],
    )
    assert refused[0].startswith("n_neurons must be an integer in 1..128; got 129"), refused
    assert refused[1].startswith("n_layers must be an integer in 3..8"), refused
    assert "gelu" in refused[2] and "leaky_relu" in refused[2], refused
    assert "huber" in refused[3] and "relative_l2" in refused[3], refused


def test_the_static_pages_first_weights_follow_the_schemes(studio):
    """plans.js draws each layer by gfxnn.nn.init.SCHEMES' limits, zero biases, a table in
    +-1e-4: checked on a 128-wide network for every scheme (the draws are the page's own)."""
    page, _, _ = studio
    from gfxnn.nn.init import SCHEMES

    limits = {
        "xavier": lambda i, o: 2 / (i + o),
        "he": lambda i, o: 2 / i,
        "lecun": lambda i, o: 1 / i,
    }
    for scheme in SCHEMES:
        settings = FitSettings(
            n_neurons=128,
            encoding="hashgrid",
            encoding_params={"n_levels": 2, "log2_hashmap_size": 10},
            initialization=scheme,
        )
        model = browser_model(settings)
        flat = np.asarray(
            page.evaluate(
                """async (model) => {
                  const { initialWeights } = await import("/static/browser/plans.js");
                  return Array.from(initialWeights(model));
                }""",
                model,
            )
        )
        at = 0
        for name, shape in model["names"]:
            values = flat[at : at + int(np.prod(shape))]
            at += values.size
            if name.endswith(".bias"):
                assert not values.any(), name
            elif name == "encoding.table":
                assert np.abs(values).max() <= 1e-4 and values.std() > 3e-5, name
            elif shape == [128, 128]:
                # the standard deviation of each scheme (a uniform limit is sqrt(3) of it)
                sigma = np.sqrt(limits[scheme.split("_")[0]](*shape[::-1]))
                assert values.std() == pytest.approx(sigma, rel=0.05), (scheme, name)
                bound = sigma * (np.sqrt(3) if scheme.endswith("uniform") else 3)
                assert np.abs(values).max() <= bound * (1 + 1e-6), (scheme, name)
                assert np.abs(values).max() >= 0.9 * bound, (scheme, name)
        assert at == flat.size
