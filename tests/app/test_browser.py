"""End to end in a real browser: Playwright drives Debian's headless chromium against a live server.

Never ``playwright install``: the browser is the system's chromium (``.ci/run`` installs it). In
CI (``CI=true``) a missing chromium or Playwright fails the test; locally it is skipped.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import shutil
import socket
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from PIL import Image

from sketch2shape.app.server import create_app
from tests.app.conftest import FakeReconstructor, chair_drawing, data_url, fake_settings, live_server

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# A chair as strokes in canvas fractions: back, seat, four legs.
CHAIR_STROKES = [
    [(0.33, 0.15), (0.67, 0.15), (0.67, 0.48), (0.33, 0.48), (0.33, 0.15)],
    [(0.33, 0.48), (0.67, 0.48), (0.75, 0.58), (0.25, 0.58), (0.33, 0.48)],
    [(0.26, 0.58), (0.27, 0.85)], [(0.74, 0.58), (0.73, 0.85)],
    [(0.36, 0.58), (0.37, 0.78)], [(0.64, 0.58), (0.63, 0.78)],
]


def chromium_path() -> str:
    """The system chromium; fails in CI and skips locally without it (and without Playwright)."""
    path = shutil.which("chromium") or "/usr/bin/chromium"
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = 'Playwright is not installed: pip install -e ".[test]"'
    if problem is None and not Path(path).is_file():
        problem = "chromium is not installed: apt-get install -y chromium (.ci/run does this)"
    if problem:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"the browser test needs a browser in CI: {problem}")
        pytest.skip(problem)
    return path


def draw(page, strokes=CHAIR_STROKES) -> None:
    """Draw ``strokes`` on the sketch canvas with real mouse events."""
    box = page.locator("#sketch").bounding_box()
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=8)
        page.mouse.up()


def launch(playwright):
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)


def drawn_fraction(png: bytes) -> float:
    """Share of pixels that are not (near) white in a screenshot."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return float((pixels.min(-1) < 235).mean())


def drawn(shown: list[dict]) -> list[str]:
    """The shapes the page drew, in order (a shape noted again when it became the kept one counts once)."""
    return [s["shape"] for i, s in enumerate(shown) if i == 0 or shown[i - 1]["shape"] != s["shape"]]


def try_controls(page) -> dict:
    """Use the viewer's controls: wheel (zoom out), drag (orbit), double-click (reset). Returns the
    drawn share of the viewer after each (``zoomed``, ``reset``) and the frames drawn by the drag."""
    viewer = page.locator("#viewer")
    box = viewer.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    frames = lambda: int(page.get_attribute("#viewer", "data-frames"))  # noqa: E731
    page.mouse.move(x, y)
    page.mouse.wheel(0, 800)
    page.wait_for_timeout(300)
    zoomed = drawn_fraction(viewer.screenshot())
    before = frames()
    page.mouse.down()
    page.mouse.move(x + 120, y + 40, steps=6)
    page.mouse.up()
    page.wait_for_timeout(200)
    dragged = frames() - before
    page.dblclick("#viewer")
    page.wait_for_timeout(300)
    return {"zoomed": zoomed, "drag_frames": dragged, "reset": drawn_fraction(viewer.screenshot())}


def run_in_browser(base_url: str, out_dir: Path, view: str | None, timeout_s: float, stop: bool = False) -> dict:
    """Draw a chair, submit it (``view`` None: the default, estimated), see the first shape drawn
    while the job still runs, optionally press "Stop refining", wait for the kept shape, download it.
    Returns the page's state then (``early``: when the first shape was drawn)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 860})
            errors: list[str] = []
            page.on("pageerror", lambda err: errors.append(str(err)))
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto(base_url, wait_until="networkidle")
            page.wait_for_function("document.querySelectorAll('#view option').length > 0")
            default_view = page.input_value("#view")
            page.click("#submit")  # empty canvas: the page says so, nothing is sent
            assert "empty" in page.inner_text("#sketch-message")
            draw(page)
            if view is not None:
                page.select_option("#view", view)
            page.click("#submit")
            page.wait_for_function("window.appState.shown.length >= 1 || ['failed', 'cancelled'].includes(window.appState.status)", timeout=timeout_s * 1000)
            early = page.evaluate("({shown: [...window.appState.shown], status: window.appState.status, describe: window.appState.describe})")
            assert early["shown"], page.inner_text("#status")
            early["viewer"] = drawn_fraction(page.locator("#viewer").screenshot())
            early["renderer"] = page.get_attribute("#viewer", "data-viewer")
            early["stop_visible"] = page.is_visible("#stop")
            if stop:
                page.click("#stop")
            page.wait_for_function("window.appState.status === 'shown' || ['failed', 'cancelled'].includes(window.appState.status)", timeout=timeout_s * 1000)
            state = page.evaluate("({...window.appState, shown: [...window.appState.shown], frames: +document.querySelector('#viewer').dataset.frames})")
            assert state["status"] == "shown", page.inner_text("#status")
            page.wait_for_timeout(300)
            viewer_png = page.locator("#viewer").screenshot()
            state["controls"] = try_controls(page)
            state["notice"] = page.inner_text("#notice") if page.is_visible("#notice") else None
            state["describe_text"] = page.inner_text("#describe")
            state["toggle"] = page.is_visible("#shape-toggle")
            with page.expect_download() as download:
                page.click("#download-obj")
            obj_path = out_dir / "shape.obj"
            download.value.save_as(obj_path)
            page.screenshot(path=str(out_dir / "app.png"))
            if state["toggle"]:  # show the other shape: both stay available
                other = "first" if state["shown"][-1]["shape"] != "first" else "refined"
                page.click(f"#show-{other}")
                page.wait_for_function(f"window.appState.shown[window.appState.shown.length - 1].shape === '{other}'", timeout=10_000)
                state["toggled"] = page.evaluate("window.appState.shown[window.appState.shown.length - 1]")
                state["toggled_href"] = page.get_attribute("#download-obj", "href")
            return {**state, "early": early, "default_view": default_view, "viewer": drawn_fraction(viewer_png), "obj": obj_path, "errors": errors,
                    "status_text": page.inner_text("#status"), "requests": requests}
        finally:
            browser.close()


def assert_local_three_js(result: dict, base_url: str) -> None:
    """The page drew with three.js, loaded from this server, and asked no other host for anything."""
    assert result["early"]["renderer"].startswith("three.js r")
    paths = {urlparse(url).path for url in result["requests"]}
    assert {"/static/vendor/three/build/three.module.js", "/static/vendor/three/build/three.core.js",
            "/static/vendor/three/examples/jsm/controls/OrbitControls.js", "/static/vendor/three/examples/jsm/loaders/OBJLoader.js"} <= paths
    elsewhere = [url for url in result["requests"] if not url.startswith(("data:", "blob:")) and urlparse(url).netloc != urlparse(base_url).netloc]
    assert elsewhere == []


def test_browser_draw_submit_and_view_fake_models(tmp_path):
    """The whole page with a fake reconstruction (fast): draw, submit (view estimated), the first
    shape drawn (by three.js) while the refinement runs, then the refined one; describe shown; download."""
    chromium_path()
    settings = fake_settings(tmp_path, steps=15)
    with live_server(create_app(settings, FakeReconstructor(settings, step_seconds=0.1))) as url:
        result = run_in_browser(url, tmp_path, None, timeout_s=60)
    assert result["errors"] == []
    assert_local_three_js(result, url)
    assert result["default_view"] == ""  # no view picking: estimated unless the person names one
    early = result["early"]
    assert early["shown"][0]["shape"] == "first" and early["shown"][0]["faces"] == 80
    assert early["status"] in ("encoding", "refining") and early["stop_visible"] and early["viewer"] > 0.02
    assert drawn(result["shown"]) == ["first", "refined"] and result["shown"][-1] == {"shape": "refined", "stage": "done", "faces": 320}
    assert result["faces"] == 320 and result["frames"] >= 2 and result["viewer"] > 0.05
    controls = result["controls"]  # zooming out shrinks the shape, dragging redraws, double-click restores the view
    assert controls["zoomed"] < 0.7 * result["viewer"] and controls["drag_frames"] >= 2 and controls["reset"] == pytest.approx(result["viewer"], rel=0.02)
    assert result["describe_text"].startswith("view azimuth 30, elevation 20 (estimated)") and "kept the refined shape" in result["describe_text"]
    assert result["notice"] is None and result["poorMatch"] is False
    assert result["obj"].read_text().count("\nf ") == 320
    assert result["toggled"]["shape"] == "first" and result["toggled"]["faces"] == 80 and result["toggled_href"].endswith("/first.obj")
    assert (tmp_path / "app.png").stat().st_size > 10_000


def test_browser_stop_refining_and_poor_match_notice(tmp_path):
    """"Stop refining" on the page: the job ends at once with the shape so far; a poor match is said."""
    chromium_path()

    class PoorMatch(FakeReconstructor):
        def run(self, job, report):
            outcome = super().run(job, report)
            outcome.info.update(poor_match=True, refined_iou=0.2, describe=outcome.info["describe"] + "; refinement stopped by the page",
                                problem="its lines lie 0.081 of the drawing's size from the drawing's on average")
            return outcome

    settings = fake_settings(tmp_path, steps=600)
    with live_server(create_app(settings, PoorMatch(settings, step_seconds=0.05))) as url:
        start = time.monotonic()
        result = run_in_browser(url, tmp_path, "13", timeout_s=60, stop=True)
        assert time.monotonic() - start < 25  # 600 steps would take 30 s
    assert result["errors"] == [] and result["status"] == "shown"
    assert "stopped" in result["describe_text"]
    assert result["notice"] is not None and "ignores parts of your sketch (its lines lie 0.081 of the drawing's size" in result["notice"]


@pytest.mark.slow
def test_browser_end_to_end_with_tiny_models(tiny_models, tmp_path):
    """The real models (tiny DeepSDF + encoder): the first shape is drawn, then the kept one; the
    refined shape can be shown too."""
    chromium_path()
    with live_server(create_app(tiny_models)) as url:
        result = run_in_browser(url, tmp_path, None, timeout_s=150)
    assert result["errors"] == []
    assert_local_three_js(result, url)
    assert result["early"]["shown"][0]["shape"] == "first" and result["early"]["shown"][0]["stage"] in ("first", "refining")
    assert result["shown"][0]["shape"] == "first" and result["shown"][-1]["stage"] == "done" and len(result["shown"]) >= 2
    assert result["faces"] > 0 and result["frames"] >= 1 and result["viewer"] > 0.002
    assert result["describe_text"].startswith("view azimuth ") and "(estimated)" in result["describe_text"]
    assert result["obj"].read_text().count("\nf ") == result["faces"]
    # Both shapes exist: the one not kept can be shown, so the refined shape is seen after the first either way.
    assert result["toggle"] and result["toggled"]["faces"] > 0
    assert "refined" in {s["shape"] for s in result["shown"]} | {result["toggled"]["shape"]}
    print(f"screenshot: {tmp_path / 'app.png'}")


def test_a_client_that_disconnects_does_not_stop_the_server(tmp_path):
    settings = fake_settings(tmp_path, steps=40)
    with live_server(create_app(settings, FakeReconstructor(settings))) as url:
        host, port = urlparse(url).hostname, urlparse(url).port
        # 1) half a request body, then gone
        with socket.create_connection((host, port)) as sock:
            sock.sendall(b"POST /api/reconstruct HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"image\": \"data:")
        # 2) a job followed by an event stream that is dropped midway
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("POST", "/api/reconstruct", body=json.dumps({"image": data_url(chair_drawing()), "view": 0}), headers={"Content-Type": "application/json"})
        job = json.loads(conn.getresponse().read())
        conn.request("GET", f"/api/jobs/{job['id']}/events")
        response = conn.getresponse()
        assert response.status == 200 and response.readline().startswith(b"data: ")
        conn.sock.close()
        time.sleep(0.5)
        # The server still answers, and the job still finishes for whoever asks later.
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("GET", "/api/health")
        health = conn.getresponse()
        assert health.status == 200 and json.loads(health.read())["status"] == "ok"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            conn.request("GET", f"/api/jobs/{job['id']}")
            state = json.loads(conn.getresponse().read())
            if state["status"] == "done":
                break
            time.sleep(0.1)
        assert state["status"] == "done"
