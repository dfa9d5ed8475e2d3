"""gfxnn studio's server: every control changes the state, bad input is refused with a clear
error and never takes the server down, training runs in the background, and many clients on
loopback leave memory flat."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import threading
import time

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("multipart")
from PIL import Image  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402
from test_studio_support import Socket, make_session, png_bytes, running_server  # noqa: E402

from gfxnn import imagefit  # noqa: E402
from gfxnn.apps.render import load_fit_checkpoint  # noqa: E402
from gfxnn.apps.studio.protocol import MESSAGES  # noqa: E402
from gfxnn.apps.studio.server import create_app, export_formats  # noqa: E402

BASE = "http://127.0.0.1:8000"
WS = "ws://127.0.0.1:8000/ws"


@pytest.fixture
def session(tmp_path):
    session = make_session(tmp_path / "out")
    yield session
    session.close()


@pytest.fixture
def client(session):
    with TestClient(create_app(session), base_url=BASE) as client:
        yield client


@contextlib.contextmanager
def _connect(client, **kwargs):
    with client.websocket_connect(WS, **kwargs) as websocket:
        yield Socket(websocket)


def _reply(kind):
    return lambda message: message["type"] in ("ok", "error") and message.get("request") == kind


def _send(websocket, kind, **fields):
    websocket.send({"type": kind, **fields})
    reply = websocket.wait(_reply(kind))
    assert reply["type"] == "ok", reply
    return reply


def _latest_state(websocket, predicate=lambda state: True):
    return websocket.wait_state(predicate)


# ----- the page and its schema ----------------------------------------------------------------
def test_page_static_files_and_schema_follow_imagefit(client):
    page = client.get("/")
    assert page.status_code == 200 and "gfxnn studio" in page.text
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
    schema = client.get("/api/schema").json()
    fields = {field["name"]: field for field in schema["settings"]}
    assert list(fields) == [f.name for f in dataclasses.fields(imagefit.FitSettings)]
    # The choices and ranges are the module's constants, so new ones appear by themselves.
    assert fields["encoding"]["choices"] == list(imagefit.ENCODINGS)
    assert fields["activation"]["choices"] == list(imagefit.ACTIVATIONS)
    assert fields["optimizer"]["choices"] == list(imagefit.OPTIMIZERS)
    assert fields["batch_size"]["range"] == list(imagefit.BATCH_RANGE)
    assert fields["n_frequencies"]["range"] == list(imagefit.FREQUENCY_RANGE)
    assert fields["n_layers"]["range"] == list(imagefit.LAYER_RANGE)
    assert fields["n_neurons"]["range"] == list(imagefit.NEURON_RANGE)
    assert {n for n, f in fields.items() if f["live"]} == set(imagefit.TRAINING_ONLY)
    # Every text setting gets a menu (found by name: <NAME>S / <NAME>ES in imagefit).
    untyped = [n for n, f in fields.items() if f["kind"] == "str" and not f["choices"]]
    assert not untyped, f"no imagefit constant lists the choices of {untyped}"
    assert schema["bundled_images"] == ["astronaut", "circle", "half", "quarter"]
    assert schema["device"].startswith("CPU (")


def test_hello_then_state_on_connect(client):
    with _connect(client) as websocket:
        hello = json.loads(websocket.websocket.receive_text())
        assert hello["type"] == "hello" and hello["settings"]
        state = _latest_state(websocket)
        assert state["steps"] == 0 and not state["running"]
        assert state["image"]["width"] == 48 and state["clients"] == 1
        assert set(state["timings_ms"]) == {
            "Initialize",
            "Backpropagation",
            "Optimization",
            "Inference",
        }


# ----- training in the background ---------------------------------------------------------------
def test_training_runs_in_background_and_frames_arrive(client):
    with _connect(client) as websocket:
        _send(websocket, "start")
        first = _latest_state(websocket, lambda s: s["running"] and s["steps"] > 0)
        later = _latest_state(websocket, lambda s: s["steps"] > first["steps"] + 50)
        assert later["steps_per_second"] > 0 and later["loss"] is not None
        # Requests are answered while it trains.
        assert client.get("/api/state").json()["running"] is True
        frames = []
        while len(frames) < 2:
            message = websocket.websocket.receive()
            if message.get("bytes") is not None:
                frames.append(message["bytes"])
        assert all(f[:1] == b"\x01" and f[1:9] == b"\x89PNG\r\n\x1a\n" for f in frames)
        with Image.open(io.BytesIO(frames[-1][1:])) as image:
            assert image.size == (48, 48)
        _send(websocket, "stop")
        stopped = _latest_state(websocket, lambda s: not s["running"])
        time.sleep(0.2)
        assert client.get("/api/state").json()["steps"] == stopped["steps"]
        assert len(stopped["history"]["loss"]) > 1 and len(stopped["history"]["psnr"]) > 1
        # The chart's PSNR climbs from the untrained network's.
        psnrs = [value for _, value in stopped["history"]["psnr"]]
        assert psnrs[-1] > psnrs[0] + 1.0


# ----- every control ------------------------------------------------------------------------
def test_single_step_and_initialize_weights(client):
    with _connect(client) as websocket:
        _send(websocket, "step")
        assert _latest_state(websocket, lambda s: s["steps"] == 1)
        _send(websocket, "step", n=5)
        state = _latest_state(websocket, lambda s: s["steps"] == 6)
        assert state["timings_ms"]["Backpropagation"] > 0 and state["history"]["loss"]
        _send(websocket, "reset")
        state = _latest_state(websocket, lambda s: s["steps"] == 0)
        assert state["history"]["loss"] == []


LIVE_CHANGES = {"batch_size": 64, "learning_rate": 0.01, "optimizer": "sgd"}
REBUILD_CHANGES = {
    "encoding": "identity",
    "n_frequencies": 3,
    "activation": "relu",
    "n_layers": 3,
    "n_neurons": 8,
    "seed": 7,
}


@pytest.mark.parametrize("name, value", LIVE_CHANGES.items())
def test_live_settings_keep_the_weights(client, name, value):
    with _connect(client) as websocket:
        _send(websocket, "step", n=3)
        reply = _send(websocket, "apply", settings={name: value})
        assert reply["rebuilt"] is False
        state = _latest_state(websocket, lambda s: s["settings"][name] == value)
        assert state["steps"] == 3


@pytest.mark.parametrize("name, value", REBUILD_CHANGES.items())
def test_rebuild_settings_reset_the_network(client, name, value):
    with _connect(client) as websocket:
        _send(websocket, "step", n=3)
        reply = _send(websocket, "apply", settings={name: value})
        assert reply["rebuilt"] is True
        state = _latest_state(websocket, lambda s: s["settings"][name] == value)
        assert state["steps"] == 0
        _send(websocket, "step")  # and the rebuilt network trains
        assert _latest_state(websocket, lambda s: s["steps"] == 1)


DX12NN_CHOICES = {"frequency", "identity", "relu", "leaky_relu", "sigmoid", "adam", "sgd"}


def test_every_choice_the_module_offers_trains_or_is_refused_clearly(client):
    """The form offers imagefit's constants. Dx12NN's choices must build and train a step;
    any other choice does too, or (with its default encoding_params) is refused with the
    module's own ValueError, never an internal error."""
    with _connect(client) as websocket:
        for name, choices in (
            ("encoding", imagefit.ENCODINGS),
            ("activation", imagefit.ACTIVATIONS),
            ("optimizer", imagefit.OPTIMIZERS),
        ):
            for choice in choices:
                websocket.send({"type": "apply", "settings": {name: choice}})
                reply = websocket.wait(_reply("apply"))
                if reply["type"] == "error":
                    assert choice not in DX12NN_CHOICES, reply
                    assert "internal error" not in reply["message"], reply
                    continue
                _send(websocket, "step")
            _send(websocket, "apply", settings={name: imagefit.FitSettings().to_dict()[name]})


def test_load_bundled_image(client):
    with _connect(client) as websocket:
        before = _latest_state(websocket)
        _send(websocket, "load_image", name="circle")
        state = _latest_state(websocket, lambda s: s["image"]["source"] == "bundled:circle")
        assert state["image"]["version"] == before["image"]["version"] + 1
    reference = client.get("/api/reference.png")
    with Image.open(io.BytesIO(reference.content)) as image:
        assert image.size == (256, 256)
        assert set(np.unique(np.asarray(image))) == {0, 255}  # the circle is black and white


def test_save_checkpoint_download_and_render(client, session):
    with _connect(client) as websocket:
        _send(websocket, "step", n=4)
        reply = _send(websocket, "save_checkpoint")
        state = _latest_state(websocket, lambda s: s["files"])
    path = session.out_dir / reply["name"]
    assert path.is_file() and state["files"][0]["name"] == reply["name"]
    assert reply["name"].startswith("studio-") and reply["name"].endswith("-step4.safetensors")
    download = client.get(reply["url"])
    assert download.status_code == 200 and download.content == path.read_bytes()
    weights, settings, config = load_fit_checkpoint(path)  # `gfxnn render` reads it
    assert settings == session.settings and config["image"]["width"] == 48
    np.testing.assert_array_equal(
        weights["layers.0.weight"], session.model.state_dict()["layers.0.weight"]
    )


def test_saves_stop_at_the_session_cap_with_a_message(tmp_path):
    """Issue 15: --out had no bound; now at most max_files files / max_bytes bytes."""
    session = make_session(tmp_path / "out", max_files=3)
    try:
        for _ in range(3):
            session.save_checkpoint()
        with pytest.raises(ValueError, match=r"has written 3 files .* cap is 3 files"):
            session.save_checkpoint()
        assert len(list((tmp_path / "out").iterdir())) == 3
        by_bytes = make_session(tmp_path / "bytes", max_bytes=1)
        by_bytes.save_checkpoint()  # the first file may pass the byte cap; none after it
        with pytest.raises(ValueError, match=r"or 1 bytes"):
            by_bytes.save_checkpoint()
        by_bytes.close()
        with pytest.raises(ValueError, match="max_files must be an integer >= 1"):
            make_session(tmp_path, max_files=0)
    finally:
        session.close()


def test_saves_never_replace_a_file_sharing_their_name(tmp_path, session, monkeypatch):
    """An export writes NAME.glsl beside NAME.safetensors: a NAME.glsl already in --out
    (another run in the same second) must not be replaced."""
    import datetime as dt

    fixed = dt.datetime(2026, 1, 2, 3, 4, 5)
    monkeypatch.setattr(
        "gfxnn.apps.studio.files.dt.datetime", type("D", (), {"now": staticmethod(lambda: fixed)})
    )
    foreign = session.out_dir / "studio-20260102-030405-step0.glsl"
    session.out_dir.mkdir(parents=True, exist_ok=True)
    foreign.write_text("someone else's shader")
    saved = session.save_checkpoint()
    assert saved.name == "studio-20260102-030405-step0-2.safetensors"
    assert foreign.read_text() == "someone else's shader"


def test_download_prediction_png(client, session):
    response = client.get("/api/prediction.png")
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    with Image.open(io.BytesIO(response.content)) as image:
        assert image.size == (48, 48)
        expected = np.round(np.clip(session.model.predict(), 0, 1) * 255)
        np.testing.assert_allclose(np.asarray(image), expected, atol=1)


@pytest.mark.skipif(not export_formats(), reason="gfxnn.export is not available")
def test_export_shader(client, session):
    with _connect(client) as websocket:
        _send(websocket, "step", n=2)
        reply = _send(websocket, "export", format="glsl")
    assert "vec3" in reply["text"]
    assert client.get(reply["url"]).text == reply["text"]
    assert (session.out_dir / reply["name"]).read_text() == reply["text"]


@pytest.mark.skipif(not export_formats(), reason="gfxnn.export is not available")
def test_export_of_a_hash_grid_writes_its_table_beside_the_code(client, session):
    grid = {"n_levels": 2, "log2_hashmap_size": 8, "base_resolution": 4}
    session.apply({"encoding": "hashgrid", "encoding_params": grid})
    with _connect(client) as websocket:
        _send(websocket, "step", n=2)
        reply = _send(websocket, "export", format="wgsl")
    assert "NAME_grid" not in reply["text"] and "_grid" in reply["text"]
    table = session.out_dir / reply["name"].replace(".wgsl", ".grid.bin")
    assert table.stat().st_size == 4 * session.model.state_dict()["encoding.table"].size


def test_large_images_are_previewed_at_512_and_downloaded_full_size(client):
    response = _upload(client, png_bytes(600, 300))
    assert response.status_code == 200
    with _connect(client) as websocket:
        state = _latest_state(websocket, lambda s: s["image"]["width"] == 600)
        assert state["preview"] == {"width": 512, "height": 256}
        _send(websocket, "step")
        while True:
            message = websocket.websocket.receive()
            if message.get("bytes") is not None:
                with Image.open(io.BytesIO(message["bytes"][1:])) as frame:
                    if frame.size == (512, 256):
                        break
    with Image.open(io.BytesIO(client.get("/api/prediction.png").content)) as image:
        assert image.size == (600, 300)


def test_divergence_stops_training_with_a_message(client):
    with _connect(client) as websocket:
        _send(websocket, "apply", settings={"optimizer": "sgd", "learning_rate": 1e6})
        websocket.send({"type": "step", "n": 200})
        reply = websocket.wait(_reply("step"))
        assert reply["type"] == "error" and "diverged" in reply["message"]
        state = _latest_state(websocket, lambda s: s["error"] is not None)
        assert not state["running"] and "Lower the learning rate" in state["error"]
        _send(websocket, "apply", settings={"learning_rate": 1e-3})
        _send(websocket, "reset")
        _send(websocket, "start")  # a restart clears the error
        assert _latest_state(websocket, lambda s: s["error"] is None and s["steps"] > 0)


def test_an_unexpected_failure_in_training_stops_it_with_a_message(client, session, monkeypatch):
    def broken(n=1):
        raise RuntimeError("simulated fault")

    with _connect(client) as websocket:
        monkeypatch.setattr(session.model, "step", broken)
        _send(websocket, "start")
        state = _latest_state(websocket, lambda s: s["error"] is not None)
        assert state["error"] == "training stopped: RuntimeError: simulated fault"
        assert not state["running"]
        monkeypatch.undo()
        _send(websocket, "start")  # the trainer thread is still alive
        assert _latest_state(websocket, lambda s: s["steps"] > 0 and s["error"] is None)


# ----- shared state ---------------------------------------------------------------------------
def test_two_tabs_and_a_reload_see_the_same_state(client):
    with _connect(client) as first, _connect(client) as second:
        _latest_state(second, lambda s: s["clients"] == 2)
        _send(first, "apply", settings={"learning_rate": 0.005})
        _send(first, "step", n=2)
        seen = _latest_state(second, lambda s: s["steps"] == 2)
        assert seen["settings"]["learning_rate"] == 0.005
    with _connect(client) as reloaded:
        state = _latest_state(reloaded)
        assert state["steps"] == 2 and state["settings"]["learning_rate"] == 0.005


# ----- bad messages -------------------------------------------------------------------------
BAD_MESSAGES = [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"type": "explode"}', "unknown message type 'explode'"),
    ("{}", "unknown message type None"),
    ('{"type": "start", "now": true}', "unknown field(s) ['now']"),
    ('{"type": "step", "n": "3"}', "n must be an integer"),
    ('{"type": "step", "n": true}', "n must be an integer"),
    ('{"type": "step", "n": 0}', "n must be an integer in 1..1000"),
    ('{"type": "step", "n": 1e9}', "n must be an integer"),
    ('{"type": "apply"}', "missing field 'settings'"),
    ('{"type": "apply", "settings": []}', "settings must be an object"),
    ('{"type": "apply", "settings": {"bogus": 1}}', "unknown setting(s) ['bogus']"),
    ('{"type": "apply", "settings": {"n_layers": 99}}', "n_layers must be in 3..8, got 99"),
    ('{"type": "apply", "settings": {"encoding": "magic"}}', "encoding must be one of"),
    ('{"type": "apply", "settings": {"learning_rate": -1}}', "learning_rate"),
    ('{"type": "load_image", "name": "../../etc/passwd"}', "unknown bundled image"),
    ('{"type": "export", "format": 3}', "format must be a string"),
    ('{"type": "ping", "id": [1]}', "id must be a string or an integer"),
    ('{"type": "apply", "settings": {"learning_rate": NaN}}', "NaN is not a JSON number"),
    ('{"type": "step", "n": Infinity}', "Infinity is not a JSON number"),
    ("x" * 70_000, "message too long"),
    # Issue 15 case 16: these escaped the JSON error handling and dropped the connection.
    ('{"type": "step", "n": ' + "1" * 5000 + "}", "integer literal of 5000 digits"),
    ('{"type": "apply", "settings": {"n_frequencies": -' + "9" * 4400 + "}}", "4400 digits"),
    ("[" * 30_000 + "]" * 30_000, "nested too deep"),
    ('{"type": "apply", "settings": ' + '{"a": ' * 20 + "1" + "}" * 21, "nested too deep"),
    ('{"type": "step", "n": 1e999}', "out of range for a float"),
    ('{"type": "step", "type": "ping"}', "duplicate key 'type'"),
    # Found by the same campaign: an unhashable type dropped the connection (TypeError).
    ('{"type": ["step"]}', "unknown message type ['step']"),
    ('{"type": {"a": 1}}', "unknown message type {'a': 1}"),
]


@pytest.mark.parametrize("text, fragment", BAD_MESSAGES)
def test_bad_messages_get_an_error_and_the_server_goes_on(client, session, text, fragment):
    with _connect(client) as websocket:
        before = session.settings
        websocket.send(text)
        error = websocket.wait(lambda m: m["type"] == "error")
        assert fragment in error["message"], error
        assert session.settings == before  # nothing half-applied
        _send(websocket, "step")  # the same connection still works
        assert _latest_state(websocket, lambda s: s["steps"] == 1)


@pytest.mark.parametrize(
    "settings",
    [{"encoding": "e" * 60_000}, {"e" * 60_000: 1}, {"encoding_params": {"k" * 30_000: 1}}],
)
def test_error_replies_do_not_echo_a_huge_value_whole(client, settings):
    """A 60 KiB value was quoted whole (up to 120 KiB) in the error reply."""
    with _connect(client) as websocket:
        websocket.send({"type": "apply", "settings": settings})
        error = websocket.wait(lambda m: m["type"] == "error")
        # Cut by the hub ("characters cut") or already by the checker ("(N characters)").
        cut = "characters cut" in error["message"] or "characters)" in error["message"]
        assert len(error["message"]) <= 500 and cut


def test_binary_message_is_refused(client):
    with _connect(client) as websocket:
        websocket.websocket.send_bytes(b"\x00\x01")
        error = websocket.wait(lambda m: m["type"] == "error")
        assert "binary messages are not accepted" in error["message"]


def test_request_ids_are_echoed(client):
    with _connect(client) as websocket:
        websocket.send(json.dumps({"type": "step", "n": 2, "id": "abc"}))
        reply = websocket.wait(lambda m: m.get("id") == "abc")
        assert reply == {"type": "ok", "request": "step", "id": "abc"}


def test_every_message_type_is_handled(client):
    """No type in the protocol table falls through to an internal error."""
    examples = {"step": {"n": 1}, "apply": {"settings": {}}, "load_image": {"name": "half"}}
    examples |= {"example": {"name": "cosine"}, "preset": {"name": "dx12nn"}, "z_plane": {"z": 0}}
    examples["export"] = {"format": (export_formats() or ["glsl"])[0]}
    with _connect(client) as websocket:
        for kind in MESSAGES:
            websocket.send(json.dumps({"type": kind, **examples.get(kind, {})}))
            reply = websocket.wait(lambda m, k=kind: m.get("request") == k or m["type"] == "pong")
            assert "internal error" not in reply.get("message", ""), reply


# ----- bad uploads --------------------------------------------------------------------------
def _upload(client, data, name="image.png", **kwargs):
    return client.post("/api/upload", files={"file": (name, data, "image/png")}, **kwargs)


def test_upload_changes_the_reference(client):
    response = _upload(client, png_bytes(20, 10), name="../../secret/../photo.png")
    assert response.status_code == 200, response.text
    assert response.json()["image"]["source"] == "upload:photo.png"  # never a client path
    state = client.get("/api/state").json()
    assert (state["image"]["width"], state["image"]["height"]) == (20, 10)
    raw = client.post("/api/upload?name=raw.png", content=png_bytes(12, 12, seed=1))
    assert raw.status_code == 200 and raw.json()["image"]["width"] == 12


def _truncated_png():
    data = png_bytes(64, 64)
    return data[: len(data) // 2]


BAD_UPLOADS = [
    (b"", 400, "empty"),
    (b"hello, this is text", 415, "is not a PNG, JPEG, GIF, BMP or WebP image"),
    (b"%!PS-Adobe-3.0 EPSF-3.0\n", 415, "is not a PNG"),  # EPS would run Ghostscript
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, 400, "not an image Pillow can read"),
    (_truncated_png(), 400, "truncated or corrupt"),
]


@pytest.mark.parametrize("data, status, fragment", BAD_UPLOADS)
def test_bad_uploads_are_refused(client, session, data, status, fragment):
    before = session.model.target.reference().copy()
    response = _upload(client, data)
    assert response.status_code == status and fragment in response.json()["error"]
    np.testing.assert_array_equal(session.model.target.reference(), before)


def test_upload_limits(tmp_path):
    session = make_session(tmp_path)
    app = create_app(session, max_upload_bytes=50_000, max_upload_pixels=32 * 32)
    with TestClient(app, base_url=BASE) as client:
        too_many_pixels = _upload(client, png_bytes(40, 40))
        assert too_many_pixels.status_code == 400
        assert "1600 pixels; the limit is 1024" in too_many_pixels.json()["error"]
        too_big = _upload(client, os.urandom(200_000))
        assert too_big.status_code == 413 and "the limit is 50000 bytes" in too_big.json()["error"]
        no_file = client.post("/api/upload", files={"other": ("a.png", png_bytes(4, 4))})
        assert no_file.status_code == 400 and 'named "file"' in no_file.json()["error"]
        assert _upload(client, png_bytes(30, 30)).status_code == 200


# ----- origin, host and paths -------------------------------------------------------------------
def test_foreign_hosts_and_origins_are_refused(client):
    assert client.get("/api/state", headers={"host": "evil.example"}).status_code == 400
    cross = _upload(client, png_bytes(8, 8), headers={"origin": "http://evil.example"})
    assert cross.status_code == 403
    from starlette.websockets import WebSocketDisconnect

    foreign = {"origin": "http://evil.example"}
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect(WS, headers=foreign),
    ):
        pass
    assert closed.value.code == 1008
    same = _upload(client, png_bytes(8, 8), headers={"origin": BASE})
    assert same.status_code == 200


@pytest.mark.parametrize(
    "name", ["nothing.safetensors", "..%2F..%2Fpyproject.toml", "%2Fetc%2Fpasswd", ".."]
)
def test_files_endpoint_serves_only_files_the_session_wrote(client, name):
    assert client.get(f"/api/files/{name}").status_code == 404


# ----- the command line -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--device", "cuda"], "does not drive the GPU path yet"),
        (["--host", "0.0.0.0"], "needs --allow-remote"),
        (["no-such-image.png"], "image file not found"),
        (["--example", "volume"], "--example volume needs --volume FILE.npy"),
        (["--volume", "no-such-volume.npy"], "cannot read volume file no-such-volume.npy"),
        (["--example", "cosine", "--volume", "v.npy"], "--volume is for --example volume"),
        (["--example", "teapot"], "invalid choice: 'teapot'"),
    ],
)
def test_cli_refuses_bad_arguments(capsys, argv, fragment):
    from gfxnn.cli import main

    assert main(["studio", *argv]) == 2
    assert fragment in capsys.readouterr().err


def test_a_busy_port_is_one_line_and_exit_2_before_any_announcement(capsys, tmp_path):
    """Issue 15 case 14: it printed "open http://127.0.0.1:P/" and then exited 3."""
    from test_studio_support import free_socket

    from gfxnn.cli import main

    busy = free_socket()
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        argv = ["circle", "--device", "cpu", "--port", str(port), "--out", str(tmp_path / "out")]
        code = main(["studio", *argv])
    finally:
        busy.close()
    out, err = capsys.readouterr()
    assert code == 2
    assert "open http" not in out + err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "another --port" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()  # exit 2: nothing written


# ----- load on loopback -----------------------------------------------------------------------
def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_many_clients_on_loopback_memory_stays_flat(tmp_path):
    """Six WebSocket clients (one never reads) for ~4 s on a real uvicorn server: training
    goes on, pings are answered, every reading client gets frames, RSS stays within 40 MiB."""
    from websockets.sync.client import connect

    session = make_session(tmp_path, frame_interval=0.1)
    stop = threading.Event()
    results: list[dict] = []

    def reader(url: str) -> None:
        frames = states = pongs = 0
        worst = 0.0
        with connect(url, max_size=2**24) as ws:
            sent = time.monotonic()
            ws.send(json.dumps({"type": "ping"}))
            while not stop.is_set():
                message = ws.recv(timeout=5)
                if isinstance(message, bytes):
                    frames += 1
                    continue
                kind = json.loads(message)["type"]
                states += kind == "state"
                if kind == "pong":
                    pongs += 1
                    worst = max(worst, time.monotonic() - sent)
                    time.sleep(0.05)
                    sent = time.monotonic()
                    ws.send(json.dumps({"type": "ping"}))
        results.append({"frames": frames, "states": states, "pongs": pongs, "worst": worst})

    with running_server(create_app(session)) as base:
        url = base.replace("http", "ws") + "/ws"
        # `control` and `idle` never read: the server must not buffer for them without bound.
        with connect(url, close_timeout=0.5) as control, connect(url, close_timeout=0.5):
            control.send(json.dumps({"type": "start"}))
            threads = [threading.Thread(target=reader, args=(url,)) for _ in range(5)]
            for thread in threads:
                thread.start()
            time.sleep(1.0)
            rss_start, steps_start = _rss_mib(), session.snapshot()["steps"]
            time.sleep(3.0)
            rss_end, state = _rss_mib(), session.snapshot()
            stop.set()
            for thread in threads:
                thread.join(10)
    steps_per_second = (state["steps"] - steps_start) / 3.0
    print(
        f"\nload: {steps_per_second:.0f} steps/s, {state['frames_per_second']:.1f} frames/s, "
        f"RSS {rss_start:.1f} -> {rss_end:.1f} MiB, clients {results}"
    )
    assert len(results) == 5 and state["running"]
    assert steps_per_second > 20
    assert all(r["frames"] >= 3 and r["pongs"] >= 3 and r["worst"] < 2.0 for r in results)
    assert rss_end - rss_start < 40


# ----- issue 15: bursts, disconnects and stop (a real uvicorn server) ---------------------------
def _ws_url(base: str) -> str:
    return base.replace("http", "ws") + "/ws"


def _replies(ws, until, timeout: float = 30.0) -> list[dict]:
    """Text replies (not states) read until `until(reply)` is true."""
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = ws.recv(timeout=timeout)
        if isinstance(message, bytes):
            continue
        data = json.loads(message)
        if data["type"] in ("state", "hello"):
            continue
        got.append(data)
        if until(data):
            return got
    raise AssertionError(f"no final reply within {timeout} s; got {got[-3:]}")


def test_a_burst_of_requests_gets_every_reply_in_order(tmp_path):
    """Issue 15 case 12: of 200 pings sent at once, 64 to 149 pongs came back."""
    from websockets.sync.client import connect

    session = make_session(tmp_path)
    try:
        with running_server(create_app(session)) as base, connect(_ws_url(base)) as ws:
            for i in range(200):
                ws.send(json.dumps({"type": "ping", "id": i}))
            pongs = _replies(ws, lambda r: r.get("id") == 199)
            assert [r["id"] for r in pongs] == list(range(200))
            for i in range(100):  # controls too: each is run and answered, in order
                ws.send(json.dumps({"type": "step", "id": i}))
            oks = _replies(ws, lambda r: r.get("id") == 99)
            assert [(r["type"], r["id"]) for r in oks] == [("ok", i) for i in range(100)]
            assert session.model.steps == 100
    finally:
        session.close()


def _wait_for_steps(session, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while session.model.steps == 0:
        assert time.monotonic() < deadline, "the queued steps never started"
        time.sleep(0.01)


def test_a_page_that_disconnects_leaves_no_queued_work(tmp_path):
    """Issue 15 case 13: 30 `step n=1000` then a disconnect trained for ~34 s more."""
    from websockets.sync.client import connect

    session = make_session(tmp_path)
    try:
        with running_server(create_app(session)) as base:
            with connect(_ws_url(base)) as ws:
                for _ in range(30):
                    ws.send(json.dumps({"type": "step", "n": 1000}))
                _wait_for_steps(session)
            time.sleep(0.5)  # the chunk running at the disconnect ends
            after_close = session.model.steps
            time.sleep(1.0)
            assert session.model.steps == after_close
            assert after_close < 30_000
    finally:
        session.close()


def test_stop_cancels_queued_and_running_steps_and_answers_each(tmp_path):
    from websockets.sync.client import connect

    session = make_session(tmp_path)
    try:
        with running_server(create_app(session)) as base, connect(_ws_url(base)) as ws:
            for i in range(30):
                ws.send(json.dumps({"type": "step", "n": 1000, "id": i}))
            _wait_for_steps(session)
            ws.send(json.dumps({"type": "stop", "id": "stop"}))
            replies = _replies(ws, lambda r: r.get("id") == "stop")
            assert replies[-1] == {"type": "ok", "request": "stop", "id": "stop"}
            steps = {r["id"]: r for r in replies[:-1]}
            assert sorted(steps) == list(range(30))  # every step answered once
            cancelled = [r for r in steps.values() if r["type"] == "cancelled"]
            assert len(cancelled) >= 28
            assert all(r["reason"] == "cancelled by stop" and r["steps"] < 1000 for r in cancelled)
            stopped = session.model.steps
            time.sleep(0.5)
            assert session.model.steps == stopped
            assert stopped < 3000
    finally:
        session.close()


@pytest.mark.parametrize("failure", ["disconnect", "oserror"])
def test_ordinary_disconnects_are_not_logged_as_errors(tmp_path, caplog, failure):
    """Issue 15: a page that went away while its receive loop was busy (so Starlette still
    called it CONNECTED) was logged with two chained tracebacks when the next send failed."""
    import asyncio

    from starlette.websockets import WebSocketDisconnect, WebSocketState

    from gfxnn.apps.studio.hub import Client, Hub

    class GonePage:
        client_state = WebSocketState.CONNECTED

        async def send_text(self, text: str) -> None:
            raise WebSocketDisconnect(1006) if failure == "disconnect" else BrokenPipeError(32)

    session = make_session(tmp_path)
    try:
        client = Client(GonePage())  # type: ignore[arg-type]
        client.push({"type": "pong"})
        asyncio.run(Hub(session).send_loop(client))
    finally:
        session.close()
    assert client.closed  # the page's queued work is dropped with it
    noisy = [r for r in caplog.records if r.name.startswith("gfxnn") and r.levelno >= 30]
    assert not noisy, [r.getMessage() for r in noisy]


def test_oversized_messages_get_an_error_reply_up_to_the_frame_limit_then_1009(tmp_path):
    """Up to run.MAX_WEBSOCKET_BYTES a too-long message is answered and the page stays
    connected; beyond it the server cannot read it without buffering it: close 1009."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    from gfxnn.apps.studio.run import MAX_WEBSOCKET_BYTES

    session = make_session(tmp_path)
    try:
        with running_server(create_app(session)) as base:
            with connect(_ws_url(base)) as ws:
                ws.send("x" * (MAX_WEBSOCKET_BYTES // 2))
                error = _replies(ws, lambda r: r["type"] == "error")[-1]
                assert "message too long" in error["message"]
                ws.send(json.dumps({"type": "ping", "id": 1}))
                assert _replies(ws, lambda r: r.get("id") == 1)[-1]["type"] == "pong"
                ws.send("x" * (MAX_WEBSOCKET_BYTES + 1))
                with pytest.raises(ConnectionClosed) as closed:
                    _replies(ws, lambda r: False, timeout=10)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
            with connect(_ws_url(base)) as again:  # the server goes on
                again.send(json.dumps({"type": "ping", "id": 2}))
                assert _replies(again, lambda r: r.get("id") == 2)[-1]["type"] == "pong"
    finally:
        session.close()
