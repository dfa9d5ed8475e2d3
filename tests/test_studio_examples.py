"""The studio grown up (issue 18): learning on at start, MLPZen's examples, controls and
presets, driven through the server's app as the page drives it."""

from __future__ import annotations

import contextlib
import io
import time

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("multipart")
from PIL import Image  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402
from test_studio_support import Socket, make_session  # noqa: E402

from gfxnn.apps.render import load_fit_checkpoint  # noqa: E402
from gfxnn.apps.studio.server import create_app  # noqa: E402
from gfxnn.fields.examples import EXAMPLES  # noqa: E402
from gfxnn.fields.presets import PRESETS, preset_settings  # noqa: E402
from gfxnn.fields.schedule import learning_rate_at  # noqa: E402
from gfxnn.fields.settings import FitSettings  # noqa: E402
from gfxnn.io import load_checkpoint, save_checkpoint  # noqa: E402

BASE = "http://127.0.0.1:8000"
GRID = {"n_levels": 2, "n_features_per_level": 2, "log2_hashmap_size": 8, "base_resolution": 4}


@contextlib.contextmanager
def studio(tmp_path, **kwargs):
    """(TestClient, Socket, session) of a session built by make_session(**kwargs)."""
    session = make_session(tmp_path / "out", **kwargs)
    try:
        with (
            TestClient(create_app(session), base_url=BASE) as client,
            client.websocket_connect("ws://127.0.0.1:8000/ws") as websocket,
        ):
            yield client, Socket(websocket), session
    finally:
        session.close()


def send(socket, kind, **fields):
    socket.send({"type": kind, **fields})
    reply = socket.wait(lambda m: m["type"] in ("ok", "error") and m.get("request") == kind)
    assert reply["type"] == "ok", reply
    return reply


def refused(socket, kind, **fields):
    socket.send({"type": kind, **fields})
    reply = socket.wait(lambda m: m["type"] == "error")
    assert "\n" not in reply["message"] and "internal error" not in reply["message"], reply
    return reply["message"]


def small_volume() -> np.ndarray:
    """A 12^3 RGB volume: a bright ball in a dark box."""
    axis = np.linspace(0.0, 1.0, 12)
    z, y, x = np.meshgrid(axis, axis, axis, indexing="ij")
    inside = (x - 0.5) ** 2 + (y - 0.5) ** 2 + (z - 0.5) ** 2 < 0.1
    return np.stack([inside * 0.9, inside * 0.5, 0.1 + 0 * x], axis=-1).astype(np.float32)


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


# ----- learning at start ---------------------------------------------------------------------
def test_the_studio_learns_from_the_start_without_a_click(tmp_path):
    with studio(tmp_path, paused=False) as (_, socket, _session):
        first = socket.wait_state(lambda s: s["running"] and s["training"] and s["steps"] > 0)
        later = socket.wait_state(lambda s: s["steps"] > first["steps"] + 100)
        assert later["steps_per_second"] > 0 and later["training_frames_per_second"] > 0
        assert later["frame_time_ms"] > 0 and later["learning_rate"] == 1e-3
        psnrs = socket.wait_state(lambda s: len(s["history"]["psnr"]) > 2)["history"]["psnr"]
        assert psnrs[-1][1] > psnrs[0][1]


def test_paused_starts_with_learning_off(tmp_path):
    from gfxnn.apps.studio.run import add_arguments

    with studio(tmp_path, paused=True) as (client, socket, _session):
        time.sleep(0.3)
        state = client.get("/api/state").json()
        assert state["steps"] == 0 and not state["running"] and not state["training"]
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert parser.parse_args(["--paused"]).paused and not parser.parse_args([]).paused


# ----- the examples ----------------------------------------------------------------------------
def _networks_psnr(state):
    return [n["psnr"] for n in state["networks"]]


@pytest.mark.parametrize("example", ["cosine", "image", "four_images", "bubbles", "volume"])
def test_each_example_trains_and_its_metric_improves(tmp_path, example):
    settings = {"learning_rate": 1e-2, "n_frequencies": 4, "batch_size": 512}
    with studio(tmp_path) as (client, socket, session):
        send(socket, "apply", settings=settings)
        if example == "volume":
            reply = client.post("/api/volume", files={"file": ("v.npy", npy_bytes(small_volume()))})
            assert reply.status_code == 200, reply.text
            assert reply.json()["volume"]["shape"] == [12, 12, 12, 3]
        else:
            send(socket, "example", name=example)
        n = 4 if example == "four_images" else 1
        start = socket.wait_state(
            lambda s: (
                s["example"] == example
                and s["n_networks"] == n
                and all(p is not None for p in _networks_psnr(s))
            )
        )
        assert start["steps"] == 0 and start["settings"]["learning_rate"] == 1e-2
        with Image.open(io.BytesIO(client.get("/api/reference.png").content)) as reference:
            assert reference.size == (start["reference"]["width"], start["reference"]["height"])
        send(socket, "step", n=300)
        after = socket.wait_state(
            lambda s: (
                s["steps"] == 300
                and all(len(net["history"]["psnr"]) >= 2 for net in s["networks"])
                and s["networks"][0]["history"]["psnr"][-1][0] == 300
            )
        )
        for before, network in zip(_networks_psnr(start), after["networks"], strict=True):
            assert network["psnr"] > before + 1.0, (example, network["label"], before)
            losses = [value for _, value in network["history"]["loss"]]
            assert losses[-1] < losses[0]


def test_z_plane_changes_the_slice_without_reinitialising(tmp_path):
    with studio(tmp_path) as (client, socket, _session):
        send(socket, "example", name="bubbles")
        send(socket, "step", n=20)
        before = socket.wait_state(lambda s: s["example"] == "bubbles" and s["steps"] == 20)
        slice_before = client.get("/api/reference.png").content
        send(socket, "z_plane", z=0.1)
        after = socket.wait_state(lambda s: s["z_plane"] == 0.1)
        assert (
            after["steps"] == 20 and after["reference"]["version"] > before["reference"]["version"]
        )
        assert client.get("/api/reference.png").content != slice_before
        assert "z must be a number in [0, 1]" in refused(socket, "z_plane", z=1.5)


def test_bad_volume_uploads_are_refused_and_change_nothing(tmp_path):
    with studio(tmp_path) as (client, socket, session):
        before = session.example
        for data, status, fragment in [
            (b"not an array", 415, "not a .npy"),
            (npy_bytes(np.zeros((4, 4))), 400, "(D, H, W)"),
            (npy_bytes(np.full((3, 3, 3), 2.0)), 400, "outside [0, 1]"),
            (npy_bytes(np.zeros((3, 3, 3)))[:-8], 400, "truncated"),
        ]:
            reply = client.post("/api/volume", files={"file": ("v.npy", data)})
            assert reply.status_code == status and fragment in reply.json()["error"], reply.text
        assert session.example == before
        assert "no volume is loaded" in refused(socket, "example", name="volume")


# ----- MLPZen's controls -----------------------------------------------------------------------
def test_every_new_control_is_in_the_form_and_the_grid_fields_map_into_encoding_params(tmp_path):
    with studio(tmp_path) as (client, socket, _session):
        schema = client.get("/api/schema").json()
        assert [e["name"] for e in schema["examples"]] == list(EXAMPLES)
        assert [p["name"] for p in schema["presets"]] == list(PRESETS)
        fields = {f["name"]: f for f in schema["settings"]}
        assert (
            fields["freeze_mlp"]["kind"] == "bool" and fields["freeze_encoding"]["kind"] == "bool"
        )
        assert fields["max_steps"]["nullable"] and fields["max_steps"]["enable_value"] == 10000
        assert fields["frame_budget_ms"]["nullable"]
        assert fields["lr_schedule"]["choices"] == ["fixed", "linear", "cosine"]
        assert fields["decay_steps"]["shown_when"] == {"lr_schedule": ["linear"]}
        grid = {f["key"]: f for f in fields["encoding_params"]["fields"]}
        assert set(grid) == {
            "n_levels",
            "n_features_per_level",
            "base_resolution",
            "log2_hashmap_size",
        }
        send(socket, "apply", settings={"encoding": "hashgrid", "encoding_params.n_levels": 3})
        state = socket.wait_state(lambda s: s["settings"]["encoding"] == "hashgrid")
        assert state["settings"]["encoding_params"] == {"n_levels": 3}
        assert state["sizes_kb"]["encoding"] > 0 and state["sizes_kb"]["network"] > 0
        # Back to the frequency encoding: the grid's keys are dropped, not refused.
        send(socket, "apply", settings={"encoding": "frequency"})
        state = socket.wait_state(lambda s: s["settings"]["encoding"] == "frequency")
        assert state["settings"]["encoding_params"] == {} and state["sizes_kb"]["encoding"] == 0


def test_freeze_keeps_the_frozen_parameters_bit_identical(tmp_path):
    with studio(tmp_path) as (_client, socket, session):
        send(socket, "apply", settings={"encoding": "hashgrid", "encoding_params": GRID})
        send(socket, "step", n=3)
        for flag, frozen, moving in (
            ("freeze_mlp", "layers.", "encoding."),
            ("freeze_encoding", "encoding.", "layers."),
        ):
            reply = send(
                socket,
                "apply",
                settings={"freeze_mlp": False, "freeze_encoding": False, flag: True},
            )
            assert reply["rebuilt"] is False
            assert socket.wait_state(lambda s, f=flag: s["settings"][f] is True)
            before = session.model.state_dict()
            send(socket, "step", n=5)
            after = session.model.state_dict()
            for name in before:
                if name.startswith(frozen):
                    np.testing.assert_array_equal(after[name], before[name], err_msg=name)
            assert any(
                not np.array_equal(after[n], before[n]) for n in before if n.startswith(moving)
            ), flag


CHANGES_TRAINING = [
    ({"initialization": "he_gaussian"}, True),  # other initial weights
    ({"gradient_clip": "value", "clip_value": 1e-4}, False),  # tiny steps
    ({"gradient_clip": "norm", "clip_value": 1e-3}, False),
    ({"output_activation": "sigmoid"}, True),
    ({"batch_size": 64}, False),
]


@pytest.mark.parametrize("changes, rebuilt", CHANGES_TRAINING)
def test_each_control_changes_the_settings_reported_and_the_training(tmp_path, changes, rebuilt):
    """Three steps from the same start with and without the control end on other weights."""
    with studio(tmp_path) as (_client, socket, session):
        send(socket, "step", n=3)
        plain = session.model.state_dict()
        send(socket, "reset")
        assert send(socket, "apply", settings=changes)["rebuilt"] is rebuilt
        state = socket.wait_state(lambda s: all(s["settings"][k] == v for k, v in changes.items()))
        send(socket, "reset")
        send(socket, "step", n=3)
        changed = session.model.state_dict()
        assert state["steps"] == 0 and socket.wait_state(lambda s: s["steps"] == 3)
        assert any(not np.array_equal(plain[k], changed[k]) for k in plain), changes


def test_fp16_changes_the_inference_not_the_weights(tmp_path):
    with studio(tmp_path) as (_client, socket, session):
        send(socket, "step", n=3)
        weights, fp32 = session.model.state_dict(), session.model.predict()
        assert send(socket, "apply", settings={"precision": "fp16"})["rebuilt"] is False
        fp16 = session.model.predict()
        assert not np.array_equal(fp16, fp32) and np.allclose(fp16, fp32, atol=2e-2)
        for name, value in session.model.state_dict().items():
            np.testing.assert_array_equal(value, weights[name])


def test_the_schedule_rate_at_given_steps_and_initialize_restarts_it(tmp_path):
    schedule = {"lr_schedule": "cosine", "base_period": 5, "max_learning_rate": 0.02}
    with studio(tmp_path) as (_client, socket, session):
        send(socket, "apply", settings=schedule)
        for total in (1, 7, 10, 11, 40):
            done = socket.state["steps"] if socket.state else 0
            send(socket, "step", n=total - done)
            state = socket.wait_state(lambda s, t=total: s["steps"] == t)
            expected = learning_rate_at(session.settings, total - 1)  # the last step's rate
            assert state["learning_rate"] == pytest.approx(expected, rel=1e-12), total
        send(socket, "reset")
        state = socket.wait_state(lambda s: s["steps"] == 0)
        assert state["learning_rate"] is None and state["history"]["loss"] == []
        send(socket, "step")
        state = socket.wait_state(lambda s: s["steps"] == 1)
        assert state["learning_rate"] == pytest.approx(0.02)  # the schedule began again


def test_limit_stops_training_at_the_maximum(tmp_path):
    with studio(tmp_path) as (client, socket, _session):
        send(socket, "apply", settings={"max_steps": 37, "steps_per_frame": 4})
        send(socket, "start")
        state = socket.wait_state(lambda s: s["limit_reached"])
        assert state["steps"] == 37 and state["running"] and not state["training"]
        time.sleep(0.3)
        send(socket, "step", n=5)
        send(socket, "frame_step")
        assert client.get("/api/state").json()["steps"] == 37
        send(socket, "apply", settings={"max_steps": 45})  # live: training goes on to the new one
        assert socket.wait_state(lambda s: s["steps"] == 45 and s["limit_reached"])


def test_steps_per_frame_and_frame_budget(tmp_path):
    with studio(tmp_path) as (_client, socket, _session):
        send(socket, "apply", settings={"steps_per_frame": 7})
        assert send(socket, "frame_step")["steps"] == 7
        assert socket.wait_state(lambda s: s["steps"] == 7)
        # Running, every published state lies on a frame boundary (frames of 7 steps).
        send(socket, "start")
        seen = [
            socket.wait_state(lambda s, k=k: s["steps"] > 7 + 50 * k)["steps"] for k in range(3)
        ]
        send(socket, "stop")
        assert all(steps % 7 == 0 for steps in seen), seen
        send(socket, "apply", settings={"frame_budget_ms": 60.0})
        start = time.perf_counter()
        steps = send(socket, "frame_step")["steps"]
        assert steps >= 1 and time.perf_counter() - start >= 0.06
        # Running, a frame lasts the budget (7 steps of this network take a few ms).
        send(socket, "start")
        frames = socket.wait_state(lambda s: s["training_frames_per_second"] > 0)
        frames = socket.wait_state(lambda s, v=frames["version"]: s["version"] > v + 10)
        send(socket, "stop")
        assert frames["frame_time_ms"] >= 55 and frames["training_frames_per_second"] < 1000 / 55


def test_checkpoints_carry_the_new_controls(tmp_path):
    controls = {
        "initialization": "he_gaussian",
        "lr_schedule": "linear",
        "freeze_encoding": True,
        "gradient_clip": "norm",
        "clip_value": 0.25,
        "steps_per_frame": 3,
        "max_steps": 500,
    }
    with studio(tmp_path) as (_client, socket, session):
        send(socket, "apply", settings=controls)
        send(socket, "step", n=2)
        reply = send(socket, "save_checkpoint")
        _, settings, config = load_fit_checkpoint(session.out_dir / reply["name"])
        assert all(getattr(settings, k) == v for k, v in controls.items())
        assert config["example"]["name"] == "image" and config["example"]["n_input_dims"] == 2


# ----- presets -------------------------------------------------------------------------------
def test_presets_load_their_values_for_the_example(tmp_path):
    with studio(tmp_path) as (_client, socket, session):
        reply = send(socket, "preset", name="mlpzen")
        expected = preset_settings("mlpzen", "image").to_dict()
        assert reply["rebuilt"] is True and reply["settings"] == expected
        state = socket.wait_state(lambda s: s["settings"] == expected)
        assert state["settings"]["encoding_params"]["log2_hashmap_size"] == 12
        send(socket, "example", name="bubbles", preset="mlpzen")
        state = socket.wait_state(lambda s: s["example"] == "bubbles")
        assert state["settings"] == preset_settings("mlpzen", "bubbles").to_dict()
        send(socket, "preset", name="dx12nn")
        assert socket.wait_state(lambda s: s["settings"] == FitSettings().to_dict())
        assert session.example == "bubbles"


BAD = [
    ("apply", {"settings": {"max_steps": 0}}, "max_steps"),
    ("apply", {"settings": {"freeze_mlp": 1}}, "freeze_mlp"),
    ("apply", {"settings": {"steps_per_frame": 2000}}, "steps_per_frame"),
    ("apply", {"settings": {"lr_schedule": "step"}}, "lr_schedule"),
    ("apply", {"settings": {"encoding": "hashgrid", "encoding_params.n_levels": 0}}, "n_levels"),
    ("example", {"name": "teapot"}, "example must be one of"),
    ("preset", {"name": "tcnn"}, "preset must be one of"),
    ("example", {"name": "cosine", "preset": "x"}, "preset must be one of"),
    ("z_plane", {"z": "high"}, "z must be a number"),
    ("frame_step", {"n": 3}, "unknown field"),
]


@pytest.mark.parametrize("kind, fields, fragment", BAD)
def test_bad_values_are_one_line_errors_and_change_nothing(tmp_path, kind, fields, fragment):
    with studio(tmp_path) as (_client, socket, session):
        settings, example = session.settings, session.example
        assert fragment in refused(socket, kind, **fields)
        assert session.settings == settings and session.example == example


# ----- the page's own trainer (issue 19's endpoints) --------------------------------------------
def test_weights_round_trip_for_the_browser_trainer(tmp_path):
    with studio(tmp_path) as (client, socket, session):
        send(socket, "step", n=2)
        model = client.get("/api/model?network=0").json()
        assert model["target"] == {"n_input_dims": 2, "n_output_dims": 3, "grid_shape": [48, 48]}
        assert model["steps"] == 2 and model["spec"]["n_neurons"] == 16
        target = np.load(io.BytesIO(client.get("/api/target.npy").content))
        np.testing.assert_array_equal(target, session.model.target.reference())
        assert set(client.get("/api/wgsl").json()["files"]) >= {"train.wgsl", "infer.wgsl"}
        checkpoint = tmp_path / "w.safetensors"
        checkpoint.write_bytes(client.get("/api/weights.safetensors").content)
        tensors, config = load_checkpoint(checkpoint)
        changed = {k: v + np.float32(0.5) for k, v in tensors.items()}
        save_checkpoint(checkpoint, changed, config)
        reply = client.post("/api/weights?network=0&steps=9", content=checkpoint.read_bytes())
        assert reply.status_code == 200 and reply.json() == {"ok": True, "steps": 2}
        for name, value in session.model.state_dict().items():
            np.testing.assert_array_equal(value, changed[name])
        assert socket.wait_state(lambda s: s["browser_steps"] == 9)
        other = dict(config, settings={**config["settings"], "n_neurons": 8})
        save_checkpoint(checkpoint, changed, other)
        reply = client.post("/api/weights", content=checkpoint.read_bytes())
        assert reply.status_code == 409 and "n_neurons=8" in reply.json()["error"]
        assert client.post("/api/weights", content=b"junk").status_code == 400
        assert client.get("/api/model?network=3").status_code == 400
