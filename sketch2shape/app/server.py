"""The app's web server: one page (``static/``) and a small JSON API, all served locally.

API (JSON unless noted; errors are ``{"detail": "<what is wrong and what is accepted>"}``):

* ``GET /api/health``: ``ready`` (models can run), ``status`` (``ok``, ``loading``, ``no_models``,
  ``error``), ``message`` (why not ready, e.g. how to get the models), ``mode`` (``encoder`` or
  ``demo``), ``models`` (``pretrained``, ``custom``, ``demo``), the model files, queue counts, limits.
* ``GET /api/views``: the views a sketch may be drawn from (``index``, ``azimuth_deg``,
  ``elevation_deg``, ``label``, ``camera``: :func:`~sketch2shape.app.engine.camera_json`, where
  the 3D viewer starts), the ``default`` one (null: estimate it) and ``estimate`` (whether
  the view is optional); ``GET /api/views/{i}/example.png``: a training sketch from that view
  (404 without a dataset).
* ``POST /api/reconstruct``: JSON ``{"image": "data:image/png;base64,...", "view": 13 | null,
  "refine": "<job id>"?}`` or a multipart form with the same fields (``image`` a file). No view
  (or ``"estimate"``): the view is estimated from the sketch; a view index is a hint (that
  camera). ``refine`` (demo mode): add this sketch to an earlier shape. 202 with the job (``id``,
  ``status``, ``position`` in the queue); 400 for anything that is not an image, an image
  without strokes, or an unknown view / refine job; 413 for a body over ``max_upload_mb``; 503
  while no models are available or when ``max_queue`` jobs wait already.
* ``GET /api/jobs/{id}``: ``status`` (``queued``, ``loading``, ``encoding`` (the first shape),
  ``refining``, ``optimizing`` (demo), ``meshing``, ``done``, ``failed``, ``cancelled``),
  ``position``, ``step``/``steps``, ``loss``, ``losses``, ``error``; ``mesh``: the newest shape
  (``obj``/``glb`` links, ``shape``: ``first``/``refined``/``optimized``, ``stage``: ``first``,
  ``refining`` (the first shape, refinement running), ``done`` (the kept shape)); ``shapes``:
  every published shape by name; ``result``: ``describe`` (view used, IoUs, which shape was
  kept), ``poor_match``, ``camera`` (the view used, as in ``/api/views``), ``view_estimated``,
  ``chosen``. ``GET /api/jobs/{id}/events``: the same as a server-sent event stream (one event
  per change: the first shape's event comes before the refined one's; closed when the job
  finishes).
* ``POST /api/jobs/{id}/stop``: stop the refinement, keep the best shape so far (409 in demo mode).
  ``POST /api/jobs/{id}/cancel`` (also ``DELETE /api/jobs/{id}``): drop the job.
* ``GET /api/jobs/{id}/mesh.obj``, ``mesh.glb`` (the newest / kept shape), ``first.obj``,
  ``refined.obj``, ... (409 until that shape exists), ``sketch.png`` (the drawing as the models
  see it).

Concurrency: see :mod:`sketch2shape.app.jobs` (one job at a time, a bounded FIFO queue, jobs
whose page is gone are cancelled).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import io
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from PIL import Image, UnidentifiedImageError
from starlette.requests import ClientDisconnect

from sketch2shape.app.engine import Reconstructor, camera_json
from sketch2shape.app.jobs import DONE, FINISHED, SHAPES, Job, JobQueue, QueueFull
from sketch2shape.app.settings import AppSettings
from sketch2shape.data.user_sketch import SketchInputError, image_to_gray

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
IMAGE_FORMATS = "PNG, JPEG, WebP, GIF or BMP"


class BodyTooLarge(Exception):
    """A request body grew past the upload limit while it was read (:class:`BodySizeLimit`)."""


class BodySizeLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` with 413; ignore vanished clients.

    Checks the declared Content-Length first (nothing is read), and counts the bytes of bodies
    sent without one (chunked), so no request can make the server buffer more than the limit.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, send: Any) -> None:
        body = json.dumps({"detail": f"the upload is larger than the limit of {self.max_bytes / 2**20:.1f} MB (max_upload_mb in sketch2shape/conf/app.yaml)"}).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        started = False

        async def limited_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send)
        except ClientDisconnect:
            log.info("a client went away in the middle of its request to %s", scope.get("path"))  # nobody to answer


def decode_image(data: bytes, name: str, max_side: int) -> np.ndarray:
    """uint8 grayscale drawing from encoded image bytes; HTTP 400 naming ``name`` otherwise."""
    if not data:
        raise HTTPException(400, f"{name} is empty: send a {IMAGE_FORMATS} image")
    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size  # from the header: refuse huge images before decoding them
        if max(width, height) > max_side:
            raise HTTPException(400, f"{name} is {width} x {height} pixels; the limit is {max_side} per side (max_image_side)")
        image.load()
        return image_to_gray(image, name)
    except HTTPException:
        raise
    except UnidentifiedImageError:
        raise HTTPException(400, f"{name} is not an image: its bytes are none of {IMAGE_FORMATS}") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:  # truncated or corrupt
        raise HTTPException(400, f"{name} is not an image that can be read ({IMAGE_FORMATS}): {err}") from None


def decode_data_url(text: Any) -> bytes:
    """The bytes of a ``data:image/...;base64,...`` URL (what canvas.toDataURL() returns)."""
    if not isinstance(text, str) or not text.startswith("data:image/") or ";base64," not in text[:64]:
        raise HTTPException(400, "image must be a data URL 'data:image/png;base64,...' (canvas.toDataURL()) or a file in a multipart form")
    try:
        return base64.b64decode(text.split(",", 1)[1], validate=True)
    except (binascii.Error, ValueError) as err:
        raise HTTPException(400, f"image: the data URL is not valid base64: {err}") from None


def parse_int(value: Any, key: str) -> int:
    """``int(value)``; HTTP 400 naming ``key`` when it is not an integer."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise HTTPException(400, f"{key}={value!r} is not an integer") from None


async def read_submission(request: Request, max_side: int) -> tuple[np.ndarray, Any, str | None]:
    """(grayscale drawing, view, refine job id) from a JSON or multipart request."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        try:
            form = await request.form(max_files=1, max_fields=8)
        except (BodyTooLarge, ClientDisconnect):
            raise
        except Exception as err:  # a malformed multipart body
            raise HTTPException(400, f"malformed multipart form: {err}") from None
        upload = form.get("image")
        if upload is None:
            raise HTTPException(400, "the form has no field 'image' (the sketch file)")
        data = await upload.read() if hasattr(upload, "read") else decode_data_url(upload)
        name = getattr(upload, "filename", None) or "image"
        return decode_image(data, f"upload {name!r}", max_side), form.get("view"), form.get("refine") or None
    if content_type.startswith("application/json"):
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise HTTPException(400, f"the request body is not valid JSON: {err}") from None
        if not isinstance(body, dict) or "image" not in body:
            raise HTTPException(400, 'expected a JSON object {"image": "data:image/png;base64,...", "view": <index>}')
        return decode_image(decode_data_url(body["image"]), "image", max_side), body.get("view"), body.get("refine") or None
    raise HTTPException(415, f"content type {content_type or 'none'!r}: send application/json or multipart/form-data")


def create_app(settings: AppSettings, engine: Reconstructor | None = None) -> FastAPI:
    """The app for ``settings``. ``engine`` replaces the real models (tests use a fake one)."""
    engine = engine or Reconstructor(settings)

    def prepare() -> None:
        engine.apply_threads()  # in the worker thread, which runs every reconstruction
        if engine.missing() is None:
            engine.load()

    queue = JobQueue(engine.run, max_queue=settings.max_queue, keep_jobs=settings.keep_jobs, abandon_after_s=settings.abandon_after_s, prepare=prepare)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        queue.start()
        yield
        await run_in_threadpool(queue.stop_worker)

    app = FastAPI(title="sketch2shape", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings, app.state.engine, app.state.queue = settings, engine, queue
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    def job_or_404(job_id: str, touch: bool = True) -> Job:
        job = queue.get(job_id, touch=touch)
        if job is None:
            raise HTTPException(404, f"unknown job {job_id!r} (finished jobs are kept for the newest {settings.keep_jobs} reconstructions)")
        return job

    def readiness() -> tuple[str, str | None]:
        missing = engine.missing()
        if missing:
            return "no_models", missing
        if queue.prepare_error:
            return "error", queue.prepare_error
        if not queue.prepared:
            return "loading", "loading the models"
        return "ok", None

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/api/health")
    def health() -> dict:
        status, message = readiness()
        return {
            "status": status, "ready": status in ("ok", "loading"), "message": message,
            "mode": engine.mode, "models": engine.source, "files": {k: str(v) for k, v in engine.paths().items()},
            "deepsdf_ckpt": settings.deepsdf_ckpt, "encoder_ckpt": settings.encoder_ckpt, "siamese_ckpt": settings.siamese_ckpt,
            "dataset": str(engine.layout.root) if engine.has_dataset() else None,
            "threads": settings.threads,
            "queue": queue.counts(),
            "limits": {"max_upload_mb": settings.max_upload_mb, "max_queue": settings.max_queue, "steps": settings.steps_per_job, "resolution": settings.method.mesh.resolution},
        }

    @app.get("/api/views")
    def views() -> dict:
        return {
            "views": [{"index": v.index, "azimuth_deg": v.azimuth_deg, "elevation_deg": v.elevation_deg, "label": v.label, "camera": camera_json(v.camera)} for v in engine.views()],
            "default": engine.default_view(),
            "estimate": engine.mode == "encoder",  # the view is optional: estimated unless the page names one
            "examples": engine.has_dataset(),
        }

    @app.get("/api/views/{index}/example.png")
    def view_example(index: int) -> FileResponse:
        try:
            engine.view(index)
        except ValueError as err:
            raise HTTPException(404, str(err)) from None
        path = engine.example_sketch(index)
        if path is None:
            raise HTTPException(404, f"no example sketch for view {index}: no dataset at {engine.layout.root}")
        return FileResponse(path, media_type="image/png")

    @app.post("/api/reconstruct", status_code=202)
    async def reconstruct(request: Request) -> JSONResponse:
        status, message = readiness()
        if status in ("no_models", "error"):
            raise HTTPException(503, message)
        gray, view_value, refine = await read_submission(request, settings.max_image_side)
        if view_value in (None, "", "estimate", "auto"):
            view = engine.default_view() if engine.mode == "demo" else None
        else:
            view = parse_int(view_value, "view")
        if view is not None:
            try:
                engine.view(view)
            except ValueError as err:
                raise HTTPException(400, str(err)) from None
        try:
            sketch = await run_in_threadpool(engine.normalize, gray, view, "the sketch")
        except SketchInputError as err:
            if "no strokes" in str(err):
                raise HTTPException(400, "no strokes: the sketch is blank; draw the shape with dark strokes on a light background") from None
            raise HTTPException(400, str(err)) from None
        sketches, start = [(sketch, view)], None
        if refine:
            previous = job_or_404(str(refine))
            if previous.status != DONE or previous.latent is None:
                raise HTTPException(400, f"refine={refine!r}: that job is {previous.status}; only a finished shape can be refined")
            # Earlier sketches stay: the demo's objective covers them all, the encoder's way chooses one code against all
            # of them (SketchToShape's ``also``). A new drawing from the same named view replaces its old one.
            sketches = [s for s in previous.sketches if view is None or s[1] != view] + sketches
            start = previous.latent if engine.mode == "demo" else None
        try:
            job = queue.submit(sketches, settings.steps_per_job, start, stoppable=engine.mode == "encoder")
        except QueueFull as err:
            raise HTTPException(503, str(err), headers={"Retry-After": "60"}) from None
        return JSONResponse(queue.describe(job), status_code=202)

    @app.get("/api/jobs/{job_id}")
    def job_status(job_id: str) -> dict:
        return queue.describe(job_or_404(job_id))

    @app.get("/api/jobs/{job_id}/events")
    async def job_events(job_id: str, request: Request) -> StreamingResponse:
        job = job_or_404(job_id)

        async def stream() -> AsyncIterator[str]:
            last, idle, announced, sent_version = None, 0.0, 0, -1
            while True:
                if await request.is_disconnected():
                    return  # the page is gone; the job is cancelled once nobody polls it (abandon_after_s)
                job.touch()
                # Every shape is announced with the state it was published in (in order), even when
                # a later one followed before this stream looked: the first shape is never skipped.
                while announced < len(job.snapshots):
                    snapshot = job.snapshots[announced]
                    announced += 1
                    if snapshot["version"] > sent_version:
                        sent_version = snapshot["version"]
                        yield f"data: {json.dumps({**snapshot, 'position': 0})}\n\n"
                state = queue.describe(job)
                sent_version = max(sent_version, state["version"])
                key = (job.version, state["position"])
                if key != last:
                    last, idle = key, 0.0
                    yield f"data: {json.dumps(state)}\n\n"
                    if job.status in FINISHED:
                        return
                elif idle > 15.0:
                    idle = 0.0
                    yield ": keep-alive\n\n"  # proxies close silent connections
                await asyncio.sleep(0.25)
                idle += 0.25

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.post("/api/jobs/{job_id}/cancel")
    @app.delete("/api/jobs/{job_id}")
    def cancel(job_id: str) -> dict:
        job_or_404(job_id, touch=False)
        return queue.describe(queue.cancel(job_id))

    @app.post("/api/jobs/{job_id}/stop")
    def stop(job_id: str) -> dict:
        job = job_or_404(job_id)
        if not job.stoppable:
            raise HTTPException(409, f"job {job_id} has no earlier shape to keep (the demo's way optimizes one shape): cancel it instead")
        return queue.describe(queue.stop(job_id))

    def mesh_files(job_id: str, name: str):
        job = job_or_404(job_id)
        shape = job.current if name == "mesh" else name
        if name not in ("mesh", *SHAPES):
            raise HTTPException(404, f"no shape {name!r}; the shapes of a job are mesh (the newest / kept one), {', '.join(SHAPES)}")
        files = job.meshes.get(shape) if shape else None
        if files is None:
            what = "no shape yet" if not job.meshes else f"no {name} shape"
            raise HTTPException(409, f"job {job_id} is {job.status} and has {what}: the mesh exists once the job shows it")
        return files, shape, job

    def mesh_headers(job_id: str, shape: str, job: Job, ext: str) -> dict:
        stage = "done" if job.status == DONE and shape == job.current else shape
        return {"Content-Disposition": f'attachment; filename="sketch2shape_{job_id[:8]}_{shape}.{ext}"', "X-Shape": shape, "X-Shape-Stage": stage, "Cache-Control": "no-cache"}

    @app.get("/api/jobs/{job_id}/{name}.obj")
    def mesh_obj(job_id: str, name: str) -> Response:
        files, shape, job = mesh_files(job_id, name)
        return Response(files.obj, media_type="text/plain", headers=mesh_headers(job_id, shape, job, "obj"))

    @app.get("/api/jobs/{job_id}/{name}.glb")
    def mesh_glb(job_id: str, name: str) -> Response:
        files, shape, job = mesh_files(job_id, name)
        return Response(files.glb, media_type="model/gltf-binary", headers=mesh_headers(job_id, shape, job, "glb"))

    @app.get("/api/jobs/{job_id}/sketch.png")
    def job_sketch(job_id: str) -> Response:
        job = job_or_404(job_id)
        buffer = io.BytesIO()
        Image.fromarray(job.sketches[-1][0]).save(buffer, format="PNG")
        return Response(buffer.getvalue(), media_type="image/png")

    return app


def serve(settings: AppSettings) -> None:
    """Run the app with uvicorn until interrupted."""
    import uvicorn

    app = create_app(settings)
    status = app.state.engine.missing()
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    print(f"[app] sketch2shape on http://{host}:{settings.port}/  (Ctrl+C stops it)", flush=True)
    engine = app.state.engine
    print(f"[app] models: {engine.source} ({', '.join(str(p) for p in engine.paths().values())}); torch threads: {settings.threads or 'default'}", flush=True)
    if status:
        print(f"[app] {status}", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", timeout_graceful_shutdown=5)
