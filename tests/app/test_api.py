"""The app's API with FastAPI's TestClient: limits, bad input, the job queue; one real job with tiny models."""

from __future__ import annotations

import io
import json
import time

import pytest
import trimesh
from PIL import Image

from sketch2shape.app.server import create_app
from sketch2shape.app.settings import AppSettings, load_settings
from tests.app.conftest import FakeReconstructor, TestClient, chair_drawing, data_url, fake_settings, png_bytes

FINISHED = ("done", "failed", "cancelled")


def wait(client, job_id: str, timeout: float = 60.0, until=FINISHED) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in until or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


@pytest.fixture
def fake(tmp_path):
    settings = fake_settings(tmp_path)
    engine = FakeReconstructor(settings)
    with TestClient(create_app(settings, engine)) as client:
        yield client, engine


def test_settings_file_defaults_and_errors(tmp_path):
    settings = load_settings()
    assert (settings.host, settings.port) == ("127.0.0.1", 7860)
    assert settings.deepsdf_ckpt == "logs/demo/procedural_chair_16/train_deepsdf/checkpoints/last.ckpt"
    assert settings.siamese_ckpt == "logs/demo/procedural_chair_16/train_siamese/checkpoints/last.ckpt"
    assert load_settings(port=9000, host=None).port == 9000  # flags override, unset flags keep the file's value
    bad = tmp_path / "app.yaml"
    bad.write_text("prot: 80\n")
    with pytest.raises(ValueError, match=r"unknown keys \['prot'\]; accepted: host, port"):
        load_settings(bad)
    with pytest.raises(ValueError, match="init='nearest'; accepted: retrieval, mean"):
        AppSettings(init="nearest")


def test_health_without_checkpoints_says_how_to_make_them(tmp_path):
    settings = fake_settings(tmp_path)
    with TestClient(create_app(settings)) as client:
        health = client.get("/api/health").json()
        assert health["status"] == "no_models" and health["ready"] is False
        assert health["message"] == (
            f"no trained models found at {tmp_path / 'none.ckpt'}, {tmp_path / 'none2.ckpt'}: run `sketch2shape demo` first "
            "(or pass --deepsdf-ckpt/--siamese-ckpt)"
        )
        response = client.post("/api/reconstruct", json={"image": data_url(chair_drawing()), "view": 0})
        assert response.status_code == 503 and "sketch2shape demo" in response.json()["detail"]
        # The page still loads, everything it needs from this server.
        page = client.get("/")
        assert page.status_code == 200 and "<canvas" in page.text and "https://" not in page.text
        for name in ("app.js", "viewer.js", "style.css"):
            asset = client.get(f"/static/{name}")
            assert asset.status_code == 200 and "https://" not in asset.text
        views = client.get("/api/views").json()  # no dataset: one default camera
        assert views["default"] == 0 and views["examples"] is False
        assert views["views"] == [{"index": 0, "azimuth_deg": 30.0, "elevation_deg": 35.0, "label": "front-left, from above"}]


def test_malformed_uploads_are_400(fake):
    client, engine = fake
    cases = [
        dict(files={"image": ("notes.txt", b"hello, not an image", "text/plain")}, data={"view": "0"}),
        dict(files={"image": ("cut.png", png_bytes(chair_drawing())[:200], "image/png")}, data={"view": "0"}),
        dict(files={"image": ("empty.png", b"", "image/png")}),
        dict(data={"view": "0"}, files={"other": ("x.png", png_bytes(chair_drawing()), "image/png")}),
        dict(json={"image": "data:image/png;base64,!!!not base64!!!", "view": 0}),
        dict(json={"image": "https://example.com/chair.png", "view": 0}),
        dict(json={"view": 0}),
        dict(content=b"{not json", headers={"content-type": "application/json"}),
        dict(json={"image": data_url(chair_drawing()), "view": 99}),
        dict(json={"image": data_url(chair_drawing()), "view": "front"}),
        dict(json={"image": data_url(chair_drawing()), "view": 0, "refine": "nosuchjob"}),
    ]
    for case in cases:
        response = client.post("/api/reconstruct", **case)
        assert response.status_code in (400, 404), (case.keys(), response.status_code, response.text)
        assert response.json()["detail"]
    text = client.post("/api/reconstruct", files={"image": ("notes.txt", b"hello", "text/plain")}).json()["detail"]
    assert text == "upload 'notes.txt' is not an image: its bytes are none of PNG, JPEG, WebP, GIF or BMP"
    assert "view=99 is not a view" in client.post("/api/reconstruct", json={"image": data_url(chair_drawing()), "view": 99}).json()["detail"]
    assert client.post("/api/reconstruct", content=b"abc", headers={"content-type": "text/plain"}).status_code == 415
    assert engine.order == []  # nothing reached the worker
    assert client.get("/api/health").json()["status"] == "ok"


def test_empty_canvas_is_400_no_strokes(fake):
    client, _ = fake
    for image in (Image.new("RGB", (512, 512), "white"), Image.new("RGBA", (512, 512), (0, 0, 0, 0))):
        response = client.post("/api/reconstruct", json={"image": data_url(image), "view": 0})
        assert response.status_code == 400
        assert response.json()["detail"].startswith("no strokes:")


def test_oversize_upload_is_413(tmp_path):
    settings = fake_settings(tmp_path, max_upload_mb=0.5)
    with TestClient(create_app(settings, FakeReconstructor(settings))) as client:
        big = b"\x89PNG" + bytes(600_000)
        response = client.post("/api/reconstruct", files={"image": ("big.png", big, "image/png")})
        assert response.status_code == 413 and "limit of 0.5 MB" in response.json()["detail"]

        def chunks():  # no Content-Length: the server counts the bytes itself
            for _ in range(20):
                yield bytes(50_000)

        response = client.post("/api/reconstruct", content=chunks(), headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert client.get("/api/health").status_code == 200


def test_queue_runs_one_job_at_a_time_in_order(tmp_path):
    settings = fake_settings(tmp_path, steps=20, max_queue=1)
    engine = FakeReconstructor(settings, step_seconds=0.05)
    image = data_url(chair_drawing())
    with TestClient(create_app(settings, engine)) as client:
        first = client.post("/api/reconstruct", json={"image": image, "view": 0})
        assert first.status_code == 202
        first = first.json()
        assert wait(client, first["id"], until=("optimizing",))["status"] == "optimizing"
        second = client.post("/api/reconstruct", json={"image": image, "view": 0}).json()
        assert (second["status"], second["position"]) == ("queued", 1)
        third = client.post("/api/reconstruct", json={"image": image, "view": 0})  # max_queue=1 waits already
        assert third.status_code == 503 and "busy" in third.json()["detail"] and third.headers["retry-after"] == "60"
        assert client.get(f"/api/jobs/{first['id']}/mesh.obj").status_code == 409  # not done yet
        done = wait(client, first["id"])
        assert done["status"] == "done" and done["faces"] > 0 and len(done["losses"]) == 20
        assert wait(client, second["id"])["status"] == "done"
        assert client.get(f"/api/jobs/{second['id']}/mesh.obj").text.count("\nf ") > 0
        glb = client.get(f"/api/jobs/{second['id']}/mesh.glb")
        assert glb.headers["content-type"] == "model/gltf-binary"
        assert len(trimesh.load(io.BytesIO(glb.content), file_type="glb", force="mesh").faces) > 0
        assert client.get("/api/jobs/nosuchjob").status_code == 404


def test_cancel_and_abandoned_jobs(tmp_path):
    settings = fake_settings(tmp_path, steps=30, abandon_after_s=0.6)
    engine = FakeReconstructor(settings, step_seconds=0.05)
    image = data_url(chair_drawing())
    with TestClient(create_app(settings, engine)) as client:
        running = client.post("/api/reconstruct", json={"image": image, "view": 0}).json()
        waiting = client.post("/api/reconstruct", json={"image": image, "view": 0}).json()
        abandoned = client.post("/api/reconstruct", json={"image": image, "view": 0}).json()
        assert client.post(f"/api/jobs/{waiting['id']}/cancel").json()["status"] == "cancelled"
        assert wait(client, running["id"], until=("optimizing",))["status"] == "optimizing"
        assert client.delete(f"/api/jobs/{running['id']}").status_code == 200
        job = wait(client, running["id"])
        assert job["status"] == "cancelled" and job["error"] == "cancelled by its page" and job["step"] < 30
        time.sleep(1.0)  # nobody asks about the third job: the page was closed
        job = wait(client, abandoned["id"])
        assert job["status"] == "cancelled" and "nobody asked" in job["error"]
        # The server is still serving.
        later = client.post("/api/reconstruct", json={"image": image, "view": 0}).json()
        assert wait(client, later["id"])["status"] == "done"


def test_progress_event_stream(fake):
    client, _ = fake
    job = client.post("/api/reconstruct", json={"image": data_url(chair_drawing()), "view": 0}).json()
    events = []
    with client.stream("GET", f"/api/jobs/{job['id']}/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert events[-1]["status"] == "done" and events[-1]["mesh"]["obj"].endswith("/mesh.obj")
    assert any(e["status"] == "optimizing" for e in events)
    steps = [e["step"] for e in events]
    assert steps == sorted(steps)
    sketch = Image.open(io.BytesIO(client.get(f"/api/jobs/{job['id']}/sketch.png").content))
    assert sketch.size == (256, 256)  # the default framing: the training sketches' resolution


@pytest.mark.slow
def test_a_real_job_with_tiny_checkpoints(tiny_models):
    settings = tiny_models
    with TestClient(create_app(settings)) as client:
        views = client.get("/api/views").json()
        assert len(views["views"]) == 2 and views["examples"] is True and views["default"] == 0
        assert client.get("/api/views/1/example.png").headers["content-type"] == "image/png"
        image = data_url(chair_drawing())
        job = client.post("/api/reconstruct", json={"image": image, "view": 0}).json()
        job = wait(client, job["id"], timeout=120)
        assert job["status"] == "done", job["error"]
        assert job["faces"] > 0 and len(job["losses"]) == settings.steps
        health = client.get("/api/health").json()
        assert health["status"] == "ok" and health["ready"] is True and health["message"] is None
        obj = client.get(f"/api/jobs/{job['id']}/mesh.obj")
        assert obj.status_code == 200 and "attachment" in obj.headers["content-disposition"]
        mesh = trimesh.load(io.BytesIO(obj.content), file_type="obj", force="mesh")
        assert len(mesh.faces) == job["faces"]
        # Refine: the earlier sketch plus one from the other view, starting from the result.
        refined = client.post("/api/reconstruct", json={"image": image, "view": 1, "refine": job["id"]}).json()
        assert refined["views"] == [0, 1]
        refined = wait(client, refined["id"], timeout=120)
        assert refined["status"] == "done", refined["error"]
