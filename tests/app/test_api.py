"""The app's API with FastAPI's TestClient: limits, bad input, the job queue, first shape then refined
one, stopping; real jobs with tiny models (the encoder way and the demo's way)."""

from __future__ import annotations

import io
import json
import re
import time
from urllib.parse import urljoin

import pytest
import torch
import trimesh
from PIL import Image

from sketch2shape.app.server import create_app
from sketch2shape.app.settings import DEFAULT_THREADS, AppSettings, load_settings
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
    # The pretrained models by default, the view estimated, torch's threads set.
    assert (settings.deepsdf_ckpt, settings.encoder_ckpt, settings.siamese_ckpt, settings.default_view) == (None, None, None, None)
    assert settings.threads == DEFAULT_THREADS == AppSettings().threads and not settings.demo_mode
    assert AppSettings(siamese_ckpt="s.ckpt").demo_mode and not AppSettings(siamese_ckpt="s.ckpt", encoder_ckpt="e.pt").demo_mode
    assert load_settings(port=9000, host=None).port == 9000  # flags override, unset flags keep the file's value
    bad = tmp_path / "app.yaml"
    bad.write_text("prot: 80\n")
    with pytest.raises(ValueError, match=r"unknown keys \['prot'\]; accepted: host, port"):
        load_settings(bad)
    with pytest.raises(ValueError, match="init='nearest'; accepted: retrieval, mean"):
        AppSettings(init="nearest")
    with pytest.raises(ValueError, match="threads=-1 must be >= 0"):
        AppSettings(threads=-1)


def test_health_without_models_says_how_to_get_them(tmp_path, monkeypatch):
    import sketch2shape.pretrained as pretrained

    # No pretrained models in this installation (a source checkout before the first release training).
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path / "p")
    with TestClient(create_app(AppSettings(data_dir=str(tmp_path / "data")))) as client:
        health = client.get("/api/health").json()
        assert (health["status"], health["mode"], health["models"]) == ("no_models", "encoder", "pretrained")
        model = pretrained.pretrained_model()
        assert health["message"] == (
            f"this installation has no pretrained model {model.name!r} ({tmp_path / 'p' / model.name}): train it with "
            f"`sketch2shape train-release --data {model.data}`, or pass --deepsdf-ckpt and --encoder-ckpt (your DeepSDF and the sketch encoder trained for it)"
        )
    messages = {
        "one of two": AppSettings(deepsdf_ckpt="mine.ckpt"),
        "demo": AppSettings(siamese_ckpt=str(tmp_path / "none2.ckpt"), deepsdf_ckpt=str(tmp_path / "none.ckpt")),
    }
    with TestClient(create_app(messages["one of two"])) as client:
        assert client.get("/api/health").json()["message"].startswith("pass --deepsdf-ckpt and --encoder-ckpt together")
    with TestClient(create_app(messages["demo"])) as client:
        health = client.get("/api/health").json()
        assert (health["mode"], health["models"]) == ("demo", "demo")
        assert health["message"] == (
            f"no trained models found at {tmp_path / 'none.ckpt'}, {tmp_path / 'none2.ckpt'}: run `sketch2shape demo` first "
            "(or pass --deepsdf-ckpt/--siamese-ckpt)"
        )
    settings = fake_settings(tmp_path)  # the user's own files, missing
    with TestClient(create_app(settings)) as client:
        health = client.get("/api/health").json()
        assert health["status"] == "no_models" and health["ready"] is False and health["models"] == "custom"
        assert health["message"] == (
            f"no model file at {tmp_path / 'none.ckpt'}, {tmp_path / 'none_encoder.pt'}: pass --deepsdf-ckpt and --encoder-ckpt "
            "(train_deepsdf / train_sketch_encoder checkpoints or release files)"
        )
        response = client.post("/api/reconstruct", json={"image": data_url(chair_drawing()), "view": 0})
        assert response.status_code == 503 and "--encoder-ckpt" in response.json()["detail"]
        # The page still loads, everything it needs from this server.
        page = client.get("/")
        assert page.status_code == 200 and "<canvas" in page.text and "https://" not in page.text
        modules = page_modules(client, page.text)
        assert {"/static/app.js", "/static/viewer.js", "/static/vendor/three/build/three.module.js", "/static/vendor/three/build/three.core.js",
                "/static/vendor/three/examples/jsm/controls/OrbitControls.js", "/static/vendor/three/examples/jsm/loaders/OBJLoader.js"} == set(modules)
        for name in ("app.js", "viewer.js", "style.css"):
            asset = client.get(f"/static/{name}")
            assert asset.status_code == 200 and "https://" not in asset.text
        assert "three.js authors" in client.get("/static/vendor/three/LICENSE").text
        views = client.get("/api/views").json()  # no dataset: the preprocessing views, as hints; estimated by default
        assert views["default"] is None and views["estimate"] is True and views["examples"] is False
        assert len(views["views"]) == 24
        view = views["views"][13]
        assert {k: v for k, v in view.items() if k != "camera"} == {"index": 13, "azimuth_deg": 30.0, "elevation_deg": 35.0, "label": "front-left, from above"}
        # Where the viewer starts: the camera of the project's model (+Z front, positive azimuth towards +X, +Y up).
        assert view["camera"] == {"azimuth_deg": 30.0, "elevation_deg": 35.0, "distance": 2.5, "fov_deg": 50.0, "position": pytest.approx([1.02394, 1.43394, 1.77352], abs=1e-5)}


def page_modules(client, html: str) -> list[str]:
    """Every JavaScript module the page loads (its module scripts and their static imports, through
    its import map), each checked to be served here as JavaScript."""
    imports = json.loads(re.search(r'<script type="importmap">(.*?)</script>', html, re.S).group(1))["imports"]

    def resolve(specifier: str, base: str) -> str:
        if specifier in imports:
            return imports[specifier]
        prefix = next((p for p in imports if p.endswith("/") and specifier.startswith(p)), None)
        return imports[prefix] + specifier[len(prefix):] if prefix else urljoin(base, specifier)

    todo, seen = re.findall(r'<script type="module" src="([^"]+)"', html), []
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        seen.append(url)
        response = client.get(url)
        assert response.status_code == 200 and "javascript" in response.headers["content-type"], url
        todo += [resolve(s, url) for s in re.findall(r"""^(?:import|export|\})[^;]*?\bfrom\s*["']([^"']+)["']""", response.text, re.M)]
    return seen


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
    engine = FakeReconstructor(settings, step_seconds=0.4)  # the first job runs ~8 s: still running while the test looks
    image = data_url(chair_drawing())
    with TestClient(create_app(settings, engine)) as client:
        first = client.post("/api/reconstruct", json={"image": image, "view": 0})
        assert first.status_code == 202
        first = first.json()
        running = wait(client, first["id"], until=("refining",))
        assert running["status"] == "refining"
        second = client.post("/api/reconstruct", json={"image": image, "view": 0}).json()
        assert (second["status"], second["position"]) == ("queued", 1)
        third = client.post("/api/reconstruct", json={"image": image, "view": 0})  # max_queue=1 waits already
        assert third.status_code == 503 and "busy" in third.json()["detail"] and third.headers["retry-after"] == "60"
        # While refining, mesh.obj is the first shape; the refined one does not exist yet.
        assert (running["mesh"]["shape"], running["mesh"]["stage"], running["faces"]) == ("first", "refining", 80)
        current = client.get(f"/api/jobs/{first['id']}/mesh.obj")
        assert current.status_code == 200 and current.headers["x-shape"] == "first" and current.text.count("\nf ") == 80
        assert client.get(f"/api/jobs/{first['id']}/refined.obj").status_code == 409  # not there yet
        assert client.get(f"/api/jobs/{second['id']}/mesh.obj").status_code == 409  # no shape yet
        assert client.get(f"/api/jobs/{first['id']}/other.obj").status_code == 404
        done = wait(client, first["id"])
        assert done["status"] == "done" and done["faces"] == 320 and len(done["losses"]) == 20, done
        assert (done["mesh"]["shape"], done["mesh"]["stage"]) == ("refined", "done") and set(done["shapes"]) == {"first", "refined"}
        assert done["result"]["chosen"] == "refined" and "kept the refined shape" in done["result"]["describe"]
        assert client.get(done["shapes"]["first"]["obj"]).text.count("\nf ") == 80  # the first shape stays downloadable
        assert wait(client, second["id"])["status"] == "done"
        assert client.get(f"/api/jobs/{second['id']}/mesh.obj").text.count("\nf ") > 0
        glb = client.get(f"/api/jobs/{second['id']}/mesh.glb")
        assert glb.headers["content-type"] == "model/gltf-binary"
        assert len(trimesh.load(io.BytesIO(glb.content), file_type="glb", force="mesh").faces) > 0
        assert client.get("/api/jobs/nosuchjob").status_code == 404


def test_cancel_and_abandoned_jobs(tmp_path):
    # Generous times: on a busy machine a request can take a second, and a job must not count as
    # abandoned (or finish) before the test has asked about it.
    settings = fake_settings(tmp_path, steps=60, abandon_after_s=4.0)
    engine = FakeReconstructor(settings, step_seconds=0.1)
    image = data_url(chair_drawing())
    with TestClient(create_app(settings, engine)) as client:
        running = client.post("/api/reconstruct", json={"image": image, "view": 0}).json()
        waiting = client.post("/api/reconstruct", json={"image": image, "view": 0}).json()
        abandoned = client.post("/api/reconstruct", json={"image": image, "view": 0}).json()
        assert client.post(f"/api/jobs/{waiting['id']}/cancel").json()["status"] == "cancelled"
        assert wait(client, running["id"], until=("refining",))["status"] == "refining"
        assert client.delete(f"/api/jobs/{running['id']}").status_code == 200
        job = wait(client, running["id"])
        assert job["status"] == "cancelled" and job["error"] == "cancelled by its page" and job["step"] < 60
        time.sleep(5.0)  # nobody asks about the third job: the page was closed
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
    assert any(e["status"] == "refining" for e in events)
    steps = [e["step"] for e in events]
    assert steps == sorted(steps)
    # The first shape is announced before the refinement runs, and long before the refined one.
    first = next(i for i, e in enumerate(events) if e["mesh"] is not None)
    refined = next(i for i, e in enumerate(events) if e["mesh"] is not None and e["mesh"]["shape"] == "refined")
    assert events[first]["mesh"]["shape"] == "first" and events[first]["status"] == "encoding" and events[first]["step"] == 0
    assert events[first]["result"]["describe"].startswith("view azimuth 30, elevation 20 (estimated)")
    assert first < refined and events[-1]["mesh"]["stage"] == "done"
    assert [e["mesh"]["shape"] for e in events[first:refined]] == ["first"] * (refined - first)
    sketch = Image.open(io.BytesIO(client.get(f"/api/jobs/{job['id']}/sketch.png").content))
    assert sketch.size == (256, 256)  # the default framing: the training sketches' resolution


def test_stop_keeps_the_shape_so_far(tmp_path):
    settings = fake_settings(tmp_path, steps=200)
    with TestClient(create_app(settings, FakeReconstructor(settings, step_seconds=0.05))) as client:
        job = client.post("/api/reconstruct", json={"image": data_url(chair_drawing())}).json()
        running = wait(client, job["id"], until=("refining",))
        assert running["stoppable"] and running["mesh"]["shape"] == "first"
        stopped = client.post(f"/api/jobs/{job['id']}/stop").json()
        assert stopped["stop_requested"] is True
        done = wait(client, job["id"], timeout=10)
        assert done["status"] == "done" and done["step"] < 200 and done["result"]["stopped"] is True
        assert done["faces"] > 0 and client.get(f"/api/jobs/{job['id']}/mesh.obj").status_code == 200
        assert client.post(f"/api/jobs/{job['id']}/stop").json()["status"] == "done"  # finished: nothing to stop
        # Stopped before it ran: the first shape only.
        blocker = client.post("/api/reconstruct", json={"image": data_url(chair_drawing())}).json()
        early = client.post("/api/reconstruct", json={"image": data_url(chair_drawing())}).json()
        client.post(f"/api/jobs/{early['id']}/stop")
        client.post(f"/api/jobs/{blocker['id']}/cancel")
        assert wait(client, early["id"], timeout=10)["status"] == "done"
    demo = fake_settings(tmp_path, encoder_ckpt=None, siamese_ckpt=str(tmp_path / "none2.ckpt"), steps=200)
    with TestClient(create_app(demo, FakeReconstructor(demo, step_seconds=0.05))) as client:
        job = client.post("/api/reconstruct", json={"image": data_url(chair_drawing()), "view": 0}).json()
        assert job["stoppable"] is False
        response = client.post(f"/api/jobs/{job['id']}/stop")
        assert response.status_code == 409 and "cancel it instead" in response.json()["detail"]
        client.post(f"/api/jobs/{job['id']}/cancel")


def test_the_view_is_optional_a_hint_when_given(tmp_path):
    settings = fake_settings(tmp_path, steps=1)
    engine = FakeReconstructor(settings, step_seconds=0.01)
    image = data_url(chair_drawing())
    with TestClient(create_app(settings, engine)) as client:
        jobs = [client.post("/api/reconstruct", json={"image": image}).json(),
                client.post("/api/reconstruct", json={"image": image, "view": None}).json(),
                client.post("/api/reconstruct", files={"image": ("c.png", png_bytes(chair_drawing()), "image/png")}, data={"view": ""}).json(),
                client.post("/api/reconstruct", json={"image": image, "view": "estimate"}).json(),
                client.post("/api/reconstruct", json={"image": image, "view": 13}).json()]
        for job in jobs:
            assert wait(client, job["id"])["status"] == "done"
        assert engine.order == [None, None, None, None, 13] and jobs[0]["view"] is None
        # Adding a view to an earlier shape: both drawings go to the job, the first one first.
        response = client.post("/api/reconstruct", json={"image": image, "view": 1, "refine": jobs[0]["id"]})
        assert response.status_code == 202 and response.json()["views"] == [None, 1]
        assert wait(client, response.json()["id"])["status"] == "done"


def test_the_worker_sets_the_thread_count(tmp_path):
    before = torch.get_num_threads()
    seen = {}

    class Recording(FakeReconstructor):
        def run(self, job, report):
            seen["threads"] = torch.get_num_threads()
            return super().run(job, report)

    try:
        settings = fake_settings(tmp_path, steps=1, threads=1)
        with TestClient(create_app(settings, Recording(settings))) as client:
            job = client.post("/api/reconstruct", json={"image": data_url(chair_drawing())}).json()
            assert wait(client, job["id"])["status"] == "done"
            assert client.get("/api/health").json()["threads"] == 1
        assert seen["threads"] == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow
def test_a_real_job_with_tiny_models(tiny_models):
    """The encoder way (as with the pretrained models): the first shape's event comes before the
    refined one's; describe() and the view used are reported."""
    settings = tiny_models
    with TestClient(create_app(settings)) as client:
        views = client.get("/api/views").json()
        assert len(views["views"]) == 2 and views["examples"] is True and views["default"] is None and views["estimate"] is True
        assert client.get("/api/views/1/example.png").headers["content-type"] == "image/png"
        image = data_url(chair_drawing())
        job = client.post("/api/reconstruct", json={"image": image}).json()
        events = []
        with client.stream("GET", f"/api/jobs/{job['id']}/events") as response:
            for line in response.iter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))
        job = events[-1]
        assert job["status"] == "done", job["error"]
        first = next(i for i, e in enumerate(events) if e["mesh"] is not None)
        assert events[first]["mesh"]["shape"] == "first" and events[first]["status"] != "done"
        assert "refined" in job["shapes"] and events[first]["version"] < next(e["version"] for e in events if "refined" in e["shapes"])
        assert job["faces"] > 0 and len(job["losses"]) == settings.method.refine.steps
        result = job["result"]
        assert result["view_estimated"] is True and result["describe"].startswith("view azimuth ") and "(estimated)" in result["describe"]
        # the page's two shapes: the first, and the later one (the code search's or the refinement's answer)
        kept = re.search(r"kept the (first|searched|refined) shape", result["describe"]).group(1)
        assert result["chosen"] == ("first" if kept == "first" else "refined")
        assert isinstance(result["poor_match"], bool) and job["mesh"]["shape"] == result["chosen"]
        health = client.get("/api/health").json()
        assert health["status"] == "ok" and health["ready"] is True and health["message"] is None and health["models"] == "custom"
        obj = client.get(f"/api/jobs/{job['id']}/mesh.obj")
        assert obj.status_code == 200 and "attachment" in obj.headers["content-disposition"]
        mesh = trimesh.load(io.BytesIO(obj.content), file_type="obj", force="mesh")
        assert len(mesh.faces) == job["faces"]
        first_obj = client.get(job["shapes"]["first"]["obj"])
        assert len(trimesh.load(io.BytesIO(first_obj.content), file_type="obj", force="mesh").faces) == job["shapes"]["first"]["faces"]
        # A view hint: that camera, not estimated.
        hinted = client.post("/api/reconstruct", json={"image": image, "view": 1}).json()
        hinted = wait(client, hinted["id"], timeout=120)
        assert hinted["status"] == "done", hinted["error"]
        assert hinted["result"]["view_estimated"] is False and "(given)" in hinted["result"]["describe"]
        assert hinted["result"]["camera"] == views["views"][1]["camera"]
        # Another drawing of the same chair: one code chosen against both (the code search scores both).
        added = client.post("/api/reconstruct", json={"image": image, "view": 0, "refine": hinted["id"]}).json()
        added = wait(client, added["id"], timeout=120)
        assert added["status"] == "done", added["error"]
        assert added["views"] == [1, 0] and "code search" in added["result"]["describe"]


@pytest.mark.slow
def test_a_real_job_with_the_demo_models(tiny_demo_models):
    """The demo's way (siamese_ckpt, no encoder): optimize from the mean code; add a view."""
    settings = tiny_demo_models
    with TestClient(create_app(settings)) as client:
        views = client.get("/api/views").json()
        assert len(views["views"]) == 2 and views["default"] == 0 and views["estimate"] is False
        image = data_url(chair_drawing())
        job = client.post("/api/reconstruct", json={"image": image, "view": 0}).json()
        job = wait(client, job["id"], timeout=120)
        assert job["status"] == "done", job["error"]
        assert job["faces"] > 0 and len(job["losses"]) == settings.method.refine.steps and job["mesh"]["shape"] == "optimized"
        assert client.get("/api/health").json()["mode"] == "demo"
        # Refine: the earlier sketch plus one from the other view, starting from the result.
        refined = client.post("/api/reconstruct", json={"image": image, "view": 1, "refine": job["id"]}).json()
        assert refined["views"] == [0, 1]
        refined = wait(client, refined["id"], timeout=120)
        assert refined["status"] == "done", refined["error"]
