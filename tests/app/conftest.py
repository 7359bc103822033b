"""Fixtures of the app tests: a fake reconstruction (fast), tiny trained models (slow), a live server."""

from __future__ import annotations

import base64
import io
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
import trimesh
from PIL import Image, ImageDraw

from sketch2shape.app.engine import Reconstructor, camera_json
from sketch2shape.app.jobs import Outcome
from sketch2shape.app.settings import AppSettings
from sketch2shape.render.camera import Camera

with warnings.catch_warnings():
    # Newer Starlette prefers the httpx2 package and warns when it falls back to httpx.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient  # noqa: F401 - re-exported for the tests

def chair_drawing(size: int = 400) -> Image.Image:
    """A simple chair drawn with dark strokes on white: back, seat, four legs."""
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    s = size / 400
    draw.rectangle((130 * s, 60 * s, 270 * s, 190 * s), outline="black", width=4)
    draw.polygon([(130 * s, 190 * s), (270 * s, 190 * s), (300 * s, 230 * s), (100 * s, 230 * s)], outline="black", width=4)
    for x0, x1 in ((105, 110), (295, 290), (140, 145), (265, 260)):
        draw.line((x0 * s, 230 * s, x1 * s, 340 * s), fill="black", width=4)
    return image


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(image: Image.Image) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode()


class FakeReconstructor(Reconstructor):
    """The real views / framing / sketch checks, but spheres instead of trained models, step by step:
    a coarse first shape (80 faces) at once, then a refinement of ``steps`` steps ending in a finer
    refined shape (320 faces) that is kept. Demo-mode settings: one optimized shape (320 faces)."""

    FIRST_FACES, REFINED_FACES = 80, 320

    def __init__(self, settings: AppSettings, step_seconds: float = 0.05, first_seconds: float = 0.05) -> None:
        super().__init__(settings)
        self.step_seconds, self.first_seconds = step_seconds, first_seconds
        self.order: list[int | None] = []  # the view of each job in the order they ran

    def missing(self) -> str | None:
        return None

    def load(self):
        return None

    @staticmethod
    def info(chosen: str, refined: bool, stopped: bool = False) -> dict:
        text = "view azimuth 30, elevation 20 (estimated); first shape IoU 0.60 (0.1 s)"
        if refined:
            text += f", refined IoU 0.70 (0.5 s); kept the {chosen} shape"
        return {"describe": text, "poor_match": False, "chosen": chosen, "view_estimated": True, "camera": camera_json(Camera(30.0, 20.0)),
                "first_iou": 0.6, "refined_iou": 0.7 if refined else None, "min_iou": 0.0, "stopped": stopped,
                "problem": "", "line_chamfer": 0.03}

    def run(self, job, report) -> Outcome:
        self.order.append(job.view)
        if self.settings.demo_mode:
            for step in range(job.steps):
                time.sleep(self.step_seconds)
                report("optimizing", step + 1, {"loss": 1.0 / (step + 1)})
            report("meshing", job.steps, {})
            report.shape("optimized", trimesh.creation.icosphere(subdivisions=2, radius=0.5))
            return Outcome(kept="optimized", latent=torch.zeros(8))
        report("encoding", 0, {})
        time.sleep(self.first_seconds)
        report.shape("first", trimesh.creation.icosphere(subdivisions=1, radius=0.5), self.info("first", False))
        for step in range(job.steps):
            time.sleep(self.step_seconds)
            report("refining", step + 1, {"loss": 1.0 / (step + 1)})
            if report.stop_requested:
                break
        report("meshing", job.step, {})
        report.shape("refined", trimesh.creation.icosphere(subdivisions=2, radius=0.5))
        return Outcome(kept="refined", latent=torch.zeros(8), info=self.info("refined", True, report.stop_requested))


def fake_settings(tmp_path: Path, **changes) -> AppSettings:
    """Encoder-mode settings whose model files do not exist (the fake engine does not need them)."""
    # threads=0: leave torch's thread count alone (it is process-wide; test_the_worker_sets_the_thread_count sets it)
    values = dict(deepsdf_ckpt=str(tmp_path / "none.ckpt"), encoder_ckpt=str(tmp_path / "none_encoder.pt"), data_dir=str(tmp_path / "data"), steps=10, device="cpu", threads=0)
    values.update(changes)
    return AppSettings(**values)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def live_server(app) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yields the base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the app server did not start on port {port}")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


@pytest.fixture(scope="session")
def tiny_models(tiny_run) -> AppSettings:
    """App settings with the tiny DeepSDF and sketch encoder (the encoder way, as with the pretrained models)."""
    return AppSettings(
        deepsdf_ckpt=str(tiny_run["deepsdf"]), encoder_ckpt=str(tiny_run["encoder"]), data_dir=str(tiny_run["root"] / "data"),
        device="cpu", steps=4, render_resolution=32, resolution=32, threads=1,
    )


@pytest.fixture(scope="session")
def tiny_demo_models(tiny_run) -> AppSettings:
    """App settings in demo mode: the tiny DeepSDF and Siamese network, no encoder."""
    return AppSettings(
        deepsdf_ckpt=str(tiny_run["deepsdf"]), siamese_ckpt=str(tiny_run["siamese"]), data_dir=str(tiny_run["root"] / "data"),
        device="cpu", steps=4, render_resolution=32, resolution=32, threads=1,
    )
