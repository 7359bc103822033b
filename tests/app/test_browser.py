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


def run_in_browser(base_url: str, out_dir: Path, view: str, timeout_s: float) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 820})
            errors: list[str] = []
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.goto(base_url, wait_until="networkidle")
            page.wait_for_function("document.querySelectorAll('#view option').length > 0")
            page.click("#submit")  # empty canvas: the page says so, nothing is sent
            assert "empty" in page.inner_text("#sketch-message")
            draw(page)
            page.select_option("#view", view)
            page.click("#submit")
            page.wait_for_function("window.appState.status === 'shown' || ['failed', 'cancelled'].includes(window.appState.status)", timeout=timeout_s * 1000)
            state = page.evaluate("({...window.appState, frames: +document.querySelector('#viewer').dataset.frames})")
            assert state["status"] == "shown", page.inner_text("#status")
            page.wait_for_timeout(300)
            viewer_png = page.locator("#viewer").screenshot()
            with page.expect_download() as download:
                page.click("#download-obj")
            obj_path = out_dir / "shape.obj"
            download.value.save_as(obj_path)
            page.screenshot(path=str(out_dir / "app.png"))
            return {**state, "viewer": drawn_fraction(viewer_png), "obj": obj_path, "errors": errors, "status_text": page.inner_text("#status")}
        finally:
            browser.close()


def test_browser_draw_submit_and_view_fake_models(tmp_path):
    """The whole page with a fake reconstruction (fast): draw, pick a view, submit, view, download."""
    chromium_path()
    settings = fake_settings(tmp_path, steps=15)
    with live_server(create_app(settings, FakeReconstructor(settings))) as url:
        result = run_in_browser(url, tmp_path, "0", timeout_s=60)
    assert result["errors"] == []
    assert result["faces"] == 320 and result["frames"] >= 1 and result["viewer"] > 0.05
    assert result["obj"].read_text().count("\nf ") == 320
    assert (tmp_path / "app.png").stat().st_size > 10_000


@pytest.mark.slow
def test_browser_end_to_end_with_tiny_checkpoints(tiny_models, tmp_path):
    chromium_path()
    with live_server(create_app(tiny_models)) as url:
        result = run_in_browser(url, tmp_path, "1", timeout_s=150)
    assert result["errors"] == []
    assert result["faces"] > 0 and result["frames"] >= 1 and result["viewer"] > 0.002
    assert result["obj"].read_text().count("\nf ") == result["faces"]
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
