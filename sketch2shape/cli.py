"""The ``sketch2shape`` command: ``demo`` (the whole method on the built-in data)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sketch2shape.utils.hydra import REPO_ROOT


@dataclass
class Stage:
    """One step of the demo: a project script run into its own folder, skipped once done."""

    name: str
    script: str
    args: list[str] = field(default_factory=list)

    def done_marker(self, run_dir: Path) -> Path:
        return run_dir / self.name / ".done"


def stage_overrides(stage: str, settings: Sequence[str]) -> list[str]:
    """Overrides from ``--set``: ``key=value`` goes to every stage (added where absent),
    ``stage:key=value`` to that stage only."""
    out = []
    for item in settings:
        target, _, override = item.rpartition(":") if ":" in item.split("=", 1)[0] else ("", "", item)
        if "=" not in override:
            raise SystemExit(f"--set {item!r}: expected key=value or stage:key=value")
        if target in ("", stage):
            out.append(override if target else "++" + override.lstrip("+"))
    return out


def run_stage(stage: Stage, run_dir: Path, common: Sequence[str]) -> float:
    """Run a stage unless it finished before; returns the seconds it took (0 if reused)."""
    from sketch2shape.utils.io import write_text

    marker = stage.done_marker(run_dir)
    if marker.is_file():
        print(f"[demo] {stage.name}: done before, reusing {marker.parent}")
        return 0.0
    command = [sys.executable, str(REPO_ROOT / "scripts" / stage.script), *stage.args, *common, f"hydra.run.dir={run_dir / stage.name}"]
    print(f"[demo] {stage.name}: {' '.join(command[1:])}", flush=True)
    start = time.perf_counter()
    result = subprocess.run(command, cwd=Path.cwd())
    if result.returncode != 0:
        raise SystemExit(f"[demo] stage {stage.name} failed (exit {result.returncode}); its log is in {run_dir / stage.name}")
    seconds = time.perf_counter() - start
    write_text(marker, f"{seconds:.1f}\n")
    return seconds


def demo_stages(data: str, run_dir: Path) -> list[Stage]:
    deepsdf = f"ckpt_path={run_dir / 'train_deepsdf' / 'checkpoints' / 'last.ckpt'}"
    siamese = run_dir / "train_siamese" / "checkpoints" / "last.ckpt"
    return [
        Stage("preprocess_data", "preprocess_data.py", [f"data={data}"]),
        Stage("train_deepsdf", "train_deepsdf.py", [f"data={data}", "+experiment/train_deepsdf=demo"]),
        Stage("train_siamese", "train_siamese.py", [f"data={data}", "+experiment/train_siamese=demo"]),
        Stage("eval_siamese", "eval_siamese.py", [f"data={data}", f"ckpt_path={siamese}"]),
        Stage("eval_sketch_to_shape", "eval_sketch_to_shape.py", [f"data={data}", deepsdf, f"siamese_ckpt_path={siamese}", "+experiment/eval_sketch_to_shape=demo"]),
    ]


def demo(args: argparse.Namespace) -> None:
    log_dir = Path(args.log_dir)
    run_dir = log_dir / "demo" / args.data
    common = [f"paths.data_dir={Path(args.data_dir).resolve()}", f"paths.log_dir={log_dir.resolve()}"]
    timings = {}
    stages = demo_stages(args.data, run_dir)
    names = [stage.name for stage in stages]
    unknown = sorted({item.split("=", 1)[0].rpartition(":")[0] for item in args.set} - {""} - set(names))
    if unknown:
        raise SystemExit(f"--set names unknown stage(s) {unknown}; stages: {', '.join(names)}")
    for stage in stages:
        timings[stage.name] = run_stage(stage, run_dir, [*common, *stage_overrides(stage.name, args.set)])
    from sketch2shape.report import write_demo_report

    report = write_demo_report(run_dir, timings)
    print(f"[demo] report: {report}")


DEMO_RUN = Path("logs") / "demo" / "procedural_chair_16"


def reconstruct(args: argparse.Namespace) -> None:
    """A mesh and a turntable preview from a user's sketch file."""
    import json

    import numpy as np
    from PIL import Image

    from sketch2shape.data.layout import DatasetLayout
    from sketch2shape.data.user_sketch import Framing, SketchInputError, dataset_framing, normalize_sketch, read_sketch_file
    from sketch2shape.models.siamese import load_siamese
    from sketch2shape.optimize.latent import LatentOptimSettings
    from sketch2shape.optimize.reconstruct import MeshSettings, load_deepsdf, mesh_latent
    from sketch2shape.optimize.sketch import RetrievalIndex, reconstruct_from_sketch
    from sketch2shape.render.camera import Camera, cameras_from_json
    from sketch2shape.render.sphere_tracing import TracingSettings
    from sketch2shape.utils.device import resolve_device
    from sketch2shape.utils.io import save_image, save_mesh
    from sketch2shape.viz import image_grid, render_mesh

    for flag, path in (("--deepsdf-ckpt", args.deepsdf_ckpt), ("--siamese-ckpt", args.siamese_ckpt)):
        if not Path(path).is_file():
            raise SystemExit(f"{flag} {path} does not exist: run `sketch2shape demo` first (it trains both models), or pass {flag} PATH")
    try:
        gray = read_sketch_file(args.sketch)
    except SketchInputError as err:
        raise SystemExit(f"error: {err}") from None
    device = resolve_device(args.device)
    model = load_deepsdf(args.deepsdf_ckpt, device)
    siamese = load_siamese(args.siamese_ckpt, device)
    layout = DatasetLayout(Path(args.data_dir) / (model.hparams.get("data_name") or "procedural_chair_16"))
    cameras = cameras_from_json(json.loads(layout.cameras.read_text())) if layout.cameras.is_file() else None
    if cameras is None:
        camera, framing, index = Camera(azimuth_deg=30.0, elevation_deg=35.0), Framing(), None
        print(f"[reconstruct] {layout.root} not found: default camera and framing, start from the mean code")
    else:
        if not 0 <= args.view < len(cameras):
            raise SystemExit(f"--view {args.view}: the dataset has views 0..{len(cameras) - 1}")
        camera = cameras[args.view]
        train = model.train_obj_ids
        framing = dataset_framing(layout, train, args.view)
        index = RetrievalIndex(siamese, layout, train, len(cameras), device) if args.init == "retrieval" else None
    try:
        sketch = normalize_sketch(gray, framing, name=str(args.sketch))
    except SketchInputError as err:
        raise SystemExit(f"error: {err}") from None
    optim = LatentOptimSettings(steps=args.steps, lr=1e-2, lr_decay=0.3, lr_decay_every=max(1, int(args.steps * 0.7)), prior_weight=1e-3, keep_best=True)
    result = reconstruct_from_sketch(sketch, camera, model, siamese, optim, TracingSettings(), index=index, silhouette_weight=args.silhouette_weight)
    mesh = mesh_latent(model, result.latent, MeshSettings(resolution=args.resolution))
    if len(mesh.faces) == 0:
        raise SystemExit("the optimized shape has no surface; try another view (--view) or fewer --steps")
    out = Path(args.out)
    save_mesh(out, mesh)
    turntable = [render_mesh(mesh, Camera(azimuth_deg=a, elevation_deg=20.0, resolution=192)) for a in range(0, 360, 45)]
    preview = out.with_name(out.stem + "_preview.png")
    save_image(preview, image_grid([[np.repeat(np.asarray(Image.fromarray(sketch).resize((192, 192)))[..., None], 3, 2), *turntable[:4]], [np.full((192, 192, 3), 255, np.uint8), *turntable[4:]]]))
    print(f"[reconstruct] mesh: {out}  preview: {preview}")


def app(args: argparse.Namespace) -> None:
    """The browser app (sketch2shape.app): settings from conf/app.yaml, overridden by the flags."""
    try:
        from sketch2shape.app.server import serve
        from sketch2shape.app.settings import load_settings
    except ImportError as err:
        raise SystemExit(f"sketch2shape app needs the app extra ({err.name} is missing): pip install -e \".[app]\"") from None
    try:
        settings = load_settings(args.config, host=args.host, port=args.port, deepsdf_ckpt=args.deepsdf_ckpt, siamese_ckpt=args.siamese_ckpt, data_dir=args.data_dir, device=args.device)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    serve(settings)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="sketch2shape", description="Turn a 2D sketch into a 3D shape.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="generate the built-in chairs, preprocess, train, reconstruct, write a report")
    p.add_argument("--data", default="procedural_chair_16", help="data config (default: procedural_chair_16)")
    p.add_argument("--data-dir", default="data", help="paths.data_dir (default: ./data)")
    p.add_argument("--log-dir", default="logs", help="paths.log_dir (default: ./logs); the demo writes to <log-dir>/demo/<data>")
    p.add_argument("--set", action="append", default=[], metavar="[STAGE:]KEY=VALUE", help="extra Hydra override for every stage, or for one stage (repeatable)")
    p.set_defaults(func=demo)
    r = sub.add_parser("reconstruct", help="reconstruct a 3D shape from your own sketch (PNG/JPEG, dark strokes on light paper)")
    r.add_argument("sketch", help="the sketch image")
    r.add_argument("--out", default="shape.obj", help="mesh file to write (.obj, .ply, .glb); a _preview.png is written next to it")
    r.add_argument("--view", type=int, default=13, help="dataset view the sketch is drawn from (13: from the front-left, slightly above)")
    r.add_argument("--deepsdf-ckpt", default=str(DEMO_RUN / "train_deepsdf" / "checkpoints" / "last.ckpt"))
    r.add_argument("--siamese-ckpt", default=str(DEMO_RUN / "train_siamese" / "checkpoints" / "last.ckpt"))
    r.add_argument("--data-dir", default="data", help="paths.data_dir holding the dataset the checkpoints were trained on")
    r.add_argument("--init", choices=["mean", "retrieval"], default="mean", help="start code: the mean code (default, measured best with the silhouette term) or retrieval")
    r.add_argument("--steps", type=int, default=100)
    r.add_argument("--silhouette-weight", type=float, default=3.0, help="weight of the silhouette term (the sketch's outline) next to the Siamese distance; 0: distance only")
    r.add_argument("--resolution", type=int, default=128, help="marching cubes grid")
    r.add_argument("--device", default="auto")
    r.set_defaults(func=reconstruct)
    a = sub.add_parser("app", help="a browser app: draw a sketch, get a 3D shape (a local web server; conf/app.yaml)")
    a.add_argument("--host", help="address to listen on (default from conf/app.yaml: 127.0.0.1, this machine only)")
    a.add_argument("--port", type=int, help="port (default from conf/app.yaml: 7860)")
    a.add_argument("--deepsdf-ckpt", help=f"DeepSDF checkpoint (default: {DEMO_RUN / 'train_deepsdf' / 'checkpoints' / 'last.ckpt'})")
    a.add_argument("--siamese-ckpt", help=f"Siamese checkpoint (default: {DEMO_RUN / 'train_siamese' / 'checkpoints' / 'last.ckpt'})")
    a.add_argument("--data-dir", help="paths.data_dir holding the dataset the checkpoints were trained on (default: data)")
    a.add_argument("--device", help="auto | cpu | cuda | cuda:<index> (default: auto)")
    a.add_argument("--config", default=None, help="settings file (default: conf/app.yaml)")
    a.set_defaults(func=app)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
