"""The ``sketch2shape`` command: ``demo`` (the whole method on the built-in data), ``reconstruct``
(a mesh from your sketch), ``app``, ``train-release``, and every Hydra task of
:mod:`sketch2shape.tasks` (``sketch2shape train_deepsdf +data=procedural_chair_16``)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from sketch2shape.pretrained import DEFAULT_MODEL, PRETRAINED_MODELS
from sketch2shape.tasks import TASKS, task_module
from sketch2shape.utils.suggest import closest_options

LAUNCHED = time.perf_counter()  # this module loads first (about 0.03 s after the command starts): times are from here


@dataclass
class Stage:
    """One step of the demo: a task of :mod:`sketch2shape.tasks` run in its own process into its own
    folder, skipped once done."""

    name: str  # the stage's folder, and the task's name unless ``task`` is given
    args: list[str] = field(default_factory=list)
    needs: tuple[str, ...] = ()  # the earlier stages whose outputs it reads (run again with them: --rerun)
    task: str | None = None  # the task of :mod:`sketch2shape.tasks` (default: ``name``), when one task runs in two stages

    @property
    def module(self) -> str:
        return f"sketch2shape.tasks.{self.task or self.name}"

    def done_marker(self, run_dir: Path) -> Path:
        """Its record once finished (:func:`sketch2shape.utils.run_records.write_stage_record`):
        ``<run_dir>/<stage>/.done``, holding its wall time and when it ran."""
        from sketch2shape.utils.run_records import STAGE_RECORD

        return run_dir / self.name / STAGE_RECORD


@dataclass
class StageRun:
    """A stage as this run of the demo (or train-release) found it: ``seconds`` of wall time from
    its record, ``reused`` when it had finished before and did not run again (its seconds are then
    those of the run that made it; the demo's report reads the rest of the record itself)."""

    name: str
    seconds: float | None
    reused: bool


def stage_overrides(stage: str, settings: Sequence[str]) -> list[str]:
    """Overrides from ``--set``: ``key=value`` goes to every stage (added where absent),
    ``stage:key=value`` to that stage only (a value may hold colons: ``train_deepsdf:trainer.max_time=00:00:20:00``)."""
    out = []
    for item in settings:
        key, equals, value = item.partition("=")
        target, _, key = key.rpartition(":")
        override = key + equals + value
        if "=" not in override:
            raise SystemExit(f"--set {item!r}: expected key=value or stage:key=value")
        if target in ("", stage):
            out.append(override if target else "++" + override.lstrip("+"))
    return out


def run_stage(stage: Stage, run_dir: Path, common: Sequence[str], tag: str = "demo") -> StageRun:
    """Run a stage unless it finished before; when it finishes, record its wall time and when it
    ran next to its outputs (``<run_dir>/<stage>/.done``, written atomically). A stage that finished
    before is reused: its returned :class:`StageRun` has the recorded time and ``reused=True``."""
    from sketch2shape.utils.run_records import now_iso, read_stage_record, write_stage_record

    marker = stage.done_marker(run_dir)
    record = read_stage_record(marker)
    if record is not None:
        print(f"[{tag}] {stage.name}: done before, reusing {marker.parent}")
        return StageRun(stage.name, record.get("seconds"), reused=True)
    command = [sys.executable, "-m", stage.module, *stage.args, *common, f"hydra.run.dir={run_dir / stage.name}"]
    print(f"[{tag}] {stage.name}: {' '.join(command[1:])}", flush=True)
    started, start = now_iso(), time.perf_counter()
    result = subprocess.run(command, cwd=Path.cwd())
    if result.returncode != 0:
        raise SystemExit(f"[{tag}] stage {stage.name} failed (exit {result.returncode}); its log is in {run_dir / stage.name}")
    record = write_stage_record(marker, time.perf_counter() - start, started)
    return StageRun(stage.name, record["seconds"], reused=False)


def stages_to_rerun(stages: Sequence[Stage], named: Sequence[str]) -> list[str]:
    """The stages ``--rerun`` runs again for the ``named`` ones: those and every later stage that
    uses their outputs (:attr:`Stage.needs`, followed through), in the stages' order."""
    chosen = set(named)
    for stage in stages:
        if chosen.intersection(stage.needs):
            chosen.add(stage.name)
    return [stage.name for stage in stages if stage.name in chosen]


def remove_stage_runs(run_dir: Path, names: Sequence[str], why: str, tag: str = "demo") -> list[Path]:
    """Delete the folders ``<run_dir>/<name>`` of earlier runs of these stages (their record first,
    so an interrupted removal still runs the stage again), saying which; returns the removed folders."""
    import shutil

    from sketch2shape.utils.run_records import STAGE_RECORD

    folders = [run_dir / name for name in names if (run_dir / name).is_dir()]
    if folders:
        print(f"[{tag}] {why}: removing the previous run of {', '.join(f.name for f in folders)}: {', '.join(str(f) for f in folders)}", flush=True)
    for folder in folders:
        (folder / STAGE_RECORD).unlink(missing_ok=True)
        shutil.rmtree(folder)
    return folders


def demo_stages(data: str, run_dir: Path) -> list[Stage]:
    """The demo's stages in order, each with the earlier stages whose outputs it reads."""
    deepsdf = f"ckpt_path={run_dir / 'train_deepsdf' / 'checkpoints' / 'last.ckpt'}"
    siamese = run_dir / "train_siamese" / "checkpoints" / "last.ckpt"
    return [
        Stage("preprocess_data", [f"data={data}"]),
        Stage("train_deepsdf", [f"data={data}", "+experiment/train_deepsdf=demo"], needs=("preprocess_data",)),
        Stage("train_siamese", [f"data={data}", "+experiment/train_siamese=demo"], needs=("preprocess_data",)),
        Stage("eval_siamese", [f"data={data}", f"ckpt_path={siamese}"], needs=("train_siamese",)),
        Stage("eval_sketch_to_shape", [f"data={data}", deepsdf, f"siamese_ckpt_path={siamese}", "+experiment/eval_sketch_to_shape=demo"],
              needs=("train_deepsdf", "train_siamese")),
    ]


DEMO_STAGES = tuple(stage.name for stage in demo_stages("", Path()))


def demo(args: argparse.Namespace) -> None:
    """``sketch2shape demo``: run the stages into ``<log-dir>/demo/<data>/``, reusing those that
    finished before (except ``--fresh``/``--rerun``), and write ``report.md`` there."""
    log_dir = Path(args.log_dir)
    run_dir = log_dir / "demo" / args.data
    common = [f"paths.data_dir={Path(args.data_dir).resolve()}", f"paths.log_dir={log_dir.resolve()}"]
    stages = demo_stages(args.data, run_dir)
    names = [stage.name for stage in stages]
    unknown = sorted({item.split("=", 1)[0].rpartition(":")[0] for item in args.set} - {""} - set(names))
    if unknown:
        raise SystemExit(f"--set names unknown stage(s) {unknown}; stages: {', '.join(names)}")
    rerun = names if args.fresh else stages_to_rerun(stages, args.rerun)
    if rerun:
        why = "--fresh" if args.fresh else f"--rerun {' '.join(dict.fromkeys(args.rerun))}"
        remove_stage_runs(run_dir, rerun, f"{why} (the dataset in {args.data_dir} is kept)")
    runs = [run_stage(stage, run_dir, [*common, *stage_overrides(stage.name, args.set)]) for stage in stages]
    from sketch2shape.report import write_demo_report

    report = write_demo_report(run_dir, names, reused=[run.name for run in runs if run.reused])
    print(f"[demo] report: {report}")


DEMO_RUN = Path("logs") / "demo" / "procedural_chair_16"


REAL_CHAIRS = Path("..") / "shared" / "data" / "shapenet_v1_chairs" / "03001627"  # train-release --real-chairs default


def data_parts(data: str) -> list[tuple[str, str]]:
    """``[(name, source)]`` of the datasets a mixed data config (``source: mixed``) joins; ``[]``
    for any other data config. Raises SystemExit naming an unknown data config."""
    from omegaconf import OmegaConf

    from sketch2shape.utils.hydra import config_dir

    def load(name: str):
        path = Path(config_dir()) / "data" / f"{name}.yaml"
        if not path.is_file():
            known = sorted(p.stem for p in path.parent.glob("*.yaml") if p.stem != "base")
            raise SystemExit(f"error: data config {name!r} does not exist; accepted: {', '.join(known)}")
        return OmegaConf.load(path)

    node = load(data)
    if node.get("source") != "mixed":
        return []
    return [(str(part), str(load(str(part)).get("source", "shapenet"))) for part in node.get("parts", [])]


def release_experiment(parts: Sequence[tuple[str, str]]) -> str:
    """The DeepSDF experiment of a release on data with these parts (:func:`data_parts`):
    ``release_mix`` (the triplane shape space) for a mix, ``release`` (the CPU-sized MLP) otherwise."""
    return "release_mix" if parts else "release"


def release_stages(run_dir: Path, data: str, real_chairs: Path | str = REAL_CHAIRS) -> list[Stage]:
    """The release training: data, DeepSDF, sketch pairs, sketch encoder (sketch2shape/conf/experiment/*/release*.yaml).

    For a mixed dataset (``data=chair_mix``) the data stages make each part first: a ShapeNet part
    is imported from ``real_chairs`` (``copy_<part>``) and each part preprocessed
    (``preprocess_<part>``), then the mix is linked (``preprocess_data``); DeepSDF trains with
    ``release_mix`` (the triplane shape space), otherwise with ``release`` (the CPU-sized MLP), and
    the sketch pairs and the encoder of a mix take ``release_mix`` too (12 views per chair, a 64 px
    encoder trained for 14 epochs)."""
    deepsdf = run_dir / "train_deepsdf" / "checkpoints" / "last.ckpt"
    pairs = run_dir / "sketch_pairs"
    parts = data_parts(data)
    stages = []
    for part, source in parts:
        if source == "shapenet":
            stages.append(Stage(f"copy_{part}", [f"data={part}", f"+source={Path(real_chairs).resolve()}"], task="copy_shapenet"))
        stages.append(Stage(f"preprocess_{part}", [f"data={part}", "workers=2"], needs=tuple(s.name for s in stages if s.name == f"copy_{part}"),
                            task="preprocess_data"))
    experiment = release_experiment(parts)
    return [
        *stages,
        Stage("preprocess_data", [f"data={data}", "workers=2"], needs=tuple(s.name for s in stages)),
        Stage("train_deepsdf", [f"+experiment/train_deepsdf={experiment}", f"data={data}"], needs=("preprocess_data",)),
        Stage("make_sketch_pairs", [*([f"+experiment/make_sketch_pairs={experiment}"] if parts else []), f"data={data}",
                                    f"deepsdf_ckpt_path={deepsdf}", f"out_dir={pairs}"], needs=("train_deepsdf",)),
        Stage("train_sketch_encoder", [f"+experiment/train_sketch_encoder={experiment}", f"data={data}",
                                       f"deepsdf_ckpt_path={deepsdf}", f"pairs_dir={pairs}", "final_eval.enabled=false"], needs=("make_sketch_pairs",)),
    ]


def train_release(args: argparse.Namespace) -> None:
    """Train the release models on the built-in data and export them with a model card."""
    import platform

    from sketch2shape.models.checkpoints import export_release
    from sketch2shape.pretrained import release_model_for

    release = release_model_for(args.data)
    if args.out is None and release is None:
        raise SystemExit(f"error: --data {args.data} is no pretrained model's data ({', '.join(f'{m.name}: {m.data}' for m in PRETRAINED_MODELS.values())}); "
                         "pass --out DIR for its model files")
    log_dir = Path(args.log_dir)
    run_dir = log_dir / "release" / args.data
    common = [f"paths.data_dir={Path(args.data_dir).resolve()}", f"paths.log_dir={log_dir.resolve()}"]
    parts = data_parts(args.data)
    stages = release_stages(run_dir, args.data, args.real_chairs)
    timings = {}
    for stage in stages:
        timings[stage.name] = run_stage(stage, run_dir, [*common, *stage_overrides(stage.name, args.set)], tag="release").seconds or 0.0
    out = Path(args.out) if args.out else release.folder
    from sketch2shape.utils.run_records import portable_command

    command = portable_command(["sketch2shape", "train-release", *sys.argv[2:]])
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()}"
    paths = export_release(run_dir / "train_deepsdf" / "checkpoints" / "last.ckpt", run_dir / "train_sketch_encoder" / "checkpoints" / "last.ckpt",
                           out, command=command.strip(), timings=timings, machine=machine, data=args.data,
                           parts=[name for name, _ in parts], experiment=release_experiment(parts))
    print(f"[release] exported {', '.join(str(p) for p in paths)}")


def parse_view(value: str | None):
    """``--view`` -> a Camera, or None to estimate it (:func:`sketch2shape.render.camera.view_camera`);
    a bad value exits with status 2 and the accepted forms."""
    from sketch2shape.render.camera import view_camera

    try:
        return view_camera(value)
    except ValueError as err:
        raise SystemExit(f"error: --{err}") from None


def reconstruct_outputs(args: argparse.Namespace) -> list[Path]:
    """The mesh file of each sketch: ``--out`` for one sketch, ``<--out-dir>/<sketch stem>.obj`` with
    ``--out-dir`` (several sketches need it; a name already taken gets ``_2``, ``_3``, ...).
    Exits (status 2) when several sketches are given without ``--out-dir``."""
    if args.out_dir is None:
        if len(args.sketches) > 1:
            raise SystemExit(f"error: {len(args.sketches)} sketches: pass --out-dir DIR (each mesh is written there as <sketch name>.obj), "
                             "or one sketch with --out")
        return [Path(args.out or "shape.obj")]
    if args.out is not None:
        raise SystemExit("error: pass --out (one sketch, the mesh file) or --out-dir (a folder for the meshes), not both")
    outputs, taken = [], set()
    for sketch in args.sketches:
        stem, number = Path(sketch).stem, 1
        name = f"{stem}.obj"
        while name.lower() in taken:  # case-insensitive: one file on macOS and Windows
            number += 1
            name = f"{stem}_{number}.obj"
        taken.add(name.lower())
        outputs.append(Path(args.out_dir) / name)
    return outputs


def reconstruct(args: argparse.Namespace) -> None:
    """Meshes and previews from a user's sketches: for each, a coarse and the encoder's shape at
    once, then the code search's answer and, when asked for, a refinement kept only if it matches
    the sketch better
    (:mod:`sketch2shape.optimize.sketch_to_shape`); the models load once for all sketches.
    Exit status 0: all written and matching; 3: a shape matches its sketch badly; 1: a sketch
    could not be read or answered (with several, the others are still written)."""
    import logging

    from sketch2shape.data.user_sketch import SketchInputError, read_sketch_file
    from sketch2shape.pretrained import pretrained_model
    from sketch2shape.utils.io import check_mesh_suffix

    # Mistakes in the arguments are reported before the slow imports (torch, the models: seconds);
    # reading the sketch file (missing, a folder, not an image) needs no torch.
    outputs = reconstruct_outputs(args)
    try:
        check_mesh_suffix(outputs[0])
    except ValueError as err:
        raise SystemExit(f"error: --out {err}") from None
    if args.model is not None and (args.deepsdf_ckpt or args.encoder_ckpt or args.siamese_ckpt):
        raise SystemExit("error: pass --model (a pretrained model) or your own --deepsdf-ckpt/--encoder-ckpt, not both")
    try:
        model = pretrained_model(args.model)
    except ValueError as err:
        raise SystemExit(f"error: --{err}") from None
    batch = len(args.sketches) > 1 or args.out_dir is not None
    if args.also and batch:
        raise SystemExit("error: --also adds drawings of one chair: pass one SKETCH with --out (not several, not --out-dir)")
    if args.siamese_ckpt and not args.encoder_ckpt and (args.also or args.no_search):
        raise SystemExit("error: --also and --no-search belong to the sketch encoder's way; --siamese-ckpt (the demo's way) takes neither")
    if not batch:  # a missing or unreadable sketch file is refused before anything imports torch
        try:
            grays = [read_sketch_file(args.sketches[0])]
        except SketchInputError as err:
            raise SystemExit(f"error: {err}") from None
    camera = parse_view(args.view)
    also = [parse_also(value) for value in args.also]
    logging.basicConfig(level=logging.WARNING, format="[reconstruct] %(message)s")
    if args.siamese_ckpt and not args.encoder_ckpt:
        if batch:
            raise SystemExit("error: --siamese-ckpt (the demo's way) answers one sketch with --out; the sketch encoder's way takes several")
        return reconstruct_from_mean(args, grays[0])
    if args.encoder_ckpt is None and args.deepsdf_ckpt is None and not model.available():
        raise SystemExit(
            f"error: this installation has no pretrained model {model.name!r} ({model.folder}); train it with "
            f"`sketch2shape train-release --data {model.data}`, or pass --deepsdf-ckpt and --encoder-ckpt"
        )
    for flag, path in (("--deepsdf-ckpt", args.deepsdf_ckpt), ("--encoder-ckpt", args.encoder_ckpt)):
        if path is not None and not Path(path).is_file():
            raise SystemExit(f"error: {flag} {path} does not exist (train one with `sketch2shape train-release`, or leave both flags out for the pretrained models)")
    if (args.encoder_ckpt is None) != (args.deepsdf_ckpt is None):
        raise SystemExit("error: pass --deepsdf-ckpt and --encoder-ckpt together (the encoder predicts codes of that DeepSDF), or neither for the pretrained models")
    files = model.files()
    deepsdf_path = args.deepsdf_ckpt or files["deepsdf"]
    encoder_path = args.encoder_ckpt or files["sketch_encoder"]

    from sketch2shape.models.checkpoints import CheckpointError
    from sketch2shape.utils.device import resolve_device

    try:
        device = resolve_device(args.device, key="--device")
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    import torch

    from sketch2shape.optimize.sketch_to_shape import method_node, sketch_to_shape_from_files

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        method = sketch_to_shape_from_files(deepsdf_path, encoder_path, device,
                                            config=method_node(args.steps, None, args.silhouette_weight, args.resolution, args.min_iou, search=not args.no_search,
                                                               max_line_chamfer=args.max_line_chamfer))
    except (FileNotFoundError, CheckpointError, ValueError) as err:
        raise SystemExit(f"error: {err}") from None
    refine = not args.no_refine and method.refine_settings.steps > 0
    if not batch:
        try:
            status = answer_sketch(method, grays[0], args.sketches[0], outputs[0], camera, refine, also=also)["status"]
        except SketchInputError as err:
            raise SystemExit(f"error: {err}") from None
        if status == "poor match":
            raise SystemExit(3)
        return
    raise SystemExit(answer_sketches(method, args.sketches, outputs, camera, refine, Path(args.out_dir)))


def parse_also(value: str):
    """``--also SKETCH[@VIEW]`` -> ``(gray drawing, Camera or None, path)``; the file is read now (no torch),
    and a bad file or view exits naming it. A ``@`` is a view only when what follows
    it is one (a file named ``a@b.png`` stays a file)."""
    from sketch2shape.data.user_sketch import SketchInputError, read_sketch_file
    from sketch2shape.render.camera import view_camera

    path, view = value, None
    if "@" in value:
        head, _, tail = value.rpartition("@")
        try:
            path, view = head, view_camera(tail)
        except ValueError:
            if not Path(value).is_file():
                raise SystemExit(f"error: --also {value}: {tail!r} is not a view (a view index 0..23 or AZIMUTH,ELEVATION), and {value} is not a file") from None
    try:
        return read_sketch_file(path), view, path
    except SketchInputError as err:
        raise SystemExit(f"error: --also {err}") from None


def answer_sketch(method, gray, name: str, out: Path, camera, refine: bool, quiet: bool = False, also=()) -> dict:
    """Answer one sketch (``gray``: as :func:`~sketch2shape.data.user_sketch.read_sketch_file`
    read it) and write its mesh to ``out`` and ``<out stem>_preview.png``; returns its summary row
    (sketch, mesh, view, IoU, seconds, status ``ok`` or ``poor match``). The first shape is
    written as soon as it exists. Raises SketchInputError for a drawing without lines."""
    from sketch2shape.data.user_sketch import Framing, normalize_sketch

    start = time.perf_counter()
    launched = LAUNCHED  # what a user waits for includes the imports (seconds)
    sketch = normalize_sketch(gray, Framing(), name=str(name))
    drawings = [(normalize_sketch(other, Framing(), name=str(path)), view) for other, view, path in also]

    def coarse_written(latent, mesh) -> None:
        if len(mesh.faces):
            write_mesh_or_exit(out, mesh)
            if not quiet:
                print(f"[reconstruct] coarse shape ({method.preview}^3): {out}  {time.perf_counter() - launched:.1f} s after launch", flush=True)

    def first_written(result) -> None:
        write_mesh_or_exit(out, result.first.mesh)
        if not quiet:
            print(f"[reconstruct] first shape (encoder): {out}  {time.perf_counter() - launched:.1f} s after launch", flush=True)

    result = method(sketch, camera=camera, refine=refine, on_first=first_written, on_preview=coarse_written, also=drawings)
    if result.chosen != "first":
        write_mesh_or_exit(out, result.best.mesh)
    preview = out.with_name(out.stem + "_preview.png")
    save_reconstruction_preview(preview, sketch, result)
    if not quiet:
        print(f"[reconstruct] {result.describe()}")
        print(f"[reconstruct] mesh: {out}  preview: {preview}  ({time.perf_counter() - launched:.1f} s)")
        if result.poor_match:
            print(f"[reconstruct] warning: the shape ignores parts of the drawing: {result.match_problem()}; "
                  "try --view AZIMUTH,ELEVATION, a second drawing (--also SKETCH@VIEW), or a model trained on such shapes", file=sys.stderr)
    return {"sketch": str(name), "mesh": str(out), "azimuth": round(result.camera.azimuth_deg, 1), "elevation": round(result.camera.elevation_deg, 1),
            "iou": round(result.best.iou, 3), "line_chamfer": None if result.best.line_chamfer is None else round(result.best.line_chamfer, 4),
            "kept": result.chosen, "seconds": round(time.perf_counter() - start, 2),
            "status": "poor match" if result.poor_match else "ok"}


def answer_sketches(method, sketches: Sequence[str], outputs: Sequence[Path], camera, refine: bool, out_dir: Path) -> int:
    """Answer many sketches with one loaded method: a progress bar, a mesh and preview per sketch,
    ``<out_dir>/summary.csv`` (one row each, written atomically after every sketch, so an
    interrupted run leaves the rows so far) and a table at the end. A sketch that cannot be read
    or answered is recorded (status ``error: ...``) and the rest go on. Returns the exit status:
    1 when a sketch failed, else 3 when a shape matches its sketch badly, else 0."""
    import csv
    import io

    from sketch2shape.data.user_sketch import SketchInputError, read_sketch_file
    from sketch2shape.utils.io import write_text
    from sketch2shape.utils.progress import progress_bar

    out_dir.mkdir(parents=True, exist_ok=True)
    columns = ["sketch", "mesh", "azimuth", "elevation", "iou", "line_chamfer", "kept", "seconds", "status"]
    rows: list[dict] = []
    for sketch, out in progress_bar(list(zip(sketches, outputs)), desc="reconstruct", unit="sketch"):
        try:
            rows.append(answer_sketch(method, read_sketch_file(sketch), sketch, out, camera, refine, quiet=True))
        except Exception as err:  # a bad file, an empty shape (write_mesh_or_exit), or any failure: recorded, the rest go on
            message = str(err).removeprefix("error: ") if isinstance(err, (SketchInputError, SystemExit)) else f"{type(err).__name__}: {err}"
            rows.append({"sketch": sketch, "mesh": "", "status": f"error: {message}"})
            print(f"[reconstruct] {sketch}: {message}", file=sys.stderr)
        text = io.StringIO()
        writer = csv.DictWriter(text, columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
        write_text(out_dir / "summary.csv", text.getvalue())
    width = max(len(str(r["sketch"])) for r in rows)
    print(f"\n{'sketch':<{width}}  {'view (az, el)':>13}  {'IoU':>5}  {'s':>5}  status")
    for r in rows:
        view = f"{r['azimuth']:.0f}, {r['elevation']:.0f}" if "azimuth" in r else "-"
        print(f"{r['sketch']:<{width}}  {view:>13}  {r.get('iou', float('nan')):>5.2f}  {r.get('seconds', float('nan')):>5.1f}  {r['status']}")
    failed = sum(r["status"].startswith("error") for r in rows)
    poor = sum(r["status"] == "poor match" for r in rows)
    print(f"[reconstruct] {len(rows) - failed} of {len(rows)} meshes written to {out_dir} ({poor} matching their sketch badly); summary: {out_dir / 'summary.csv'}")
    return 1 if failed else 3 if poor else 0


def write_mesh_or_exit(path: Path, mesh) -> None:
    from sketch2shape.utils.io import save_mesh

    if len(mesh.faces) == 0:
        raise SystemExit(f"error: the shape for this sketch has no surface; nothing written to {path}")
    save_mesh(path, mesh)


def save_reconstruction_preview(path: Path, sketch, result) -> None:
    """``*_preview.png``: the sketch the model received, then the first shape, the code search's
    answer and the refined shape (those that exist) from the chosen view and a few turntable views."""
    import numpy as np
    from PIL import Image

    from sketch2shape.render.camera import Camera
    from sketch2shape.viz import render_mesh, save_labeled_grid

    size = 320  # pixels per view: legs and slats visible
    cameras = [result.camera.with_resolution(size)] + [Camera(azimuth_deg=a, elevation_deg=20.0, resolution=size) for a in (0, 90, 180)]
    received = np.repeat(np.asarray(Image.fromarray(sketch).resize((size, size)))[..., None], 3, 2)
    rows = [[received, *[render_mesh(result.first.mesh, c) for c in cameras]]]
    labels = ["first shape (encoder)" + (" - kept" if result.chosen == "first" else "")]
    if result.searched is not None and len(result.searched.mesh.faces):
        rows.append([np.full((size, size, 3), 255, np.uint8), *[render_mesh(result.searched.mesh, c) for c in cameras]])
        labels.append(f"code search: {result.searched.source}" + (" - kept" if result.chosen == "searched" else ""))
    if result.refined is not None and len(result.refined.mesh.faces):
        rows.append([np.full((size, size, 3), 255, np.uint8), *[render_mesh(result.refined.mesh, c) for c in cameras]])
        labels.append("refined" + (" - kept" if result.chosen == "refined" else " - not kept"))
    save_labeled_grid(path, rows, row_labels=labels, col_labels=["sketch received", "chosen view", "front", "side", "back"],
                      cell_inches=size / 100)


def reconstruct_from_mean(args: argparse.Namespace, gray) -> None:
    """The demo's way (no sketch encoder): optimize from the mean code with the Siamese distance and
    the silhouette term, from a dataset view (``--view``, default 13). ``gray``: the sketch file as
    :func:`~sketch2shape.data.user_sketch.read_sketch_file` read it."""
    import json

    import numpy as np
    from PIL import Image

    from sketch2shape.data.layout import DatasetLayout
    from sketch2shape.data.user_sketch import Framing, SketchInputError, dataset_framing, normalize_sketch
    from sketch2shape.models.checkpoints import load_deepsdf
    from sketch2shape.models.siamese_module import load_siamese
    from sketch2shape.optimize.reconstruct import mesh_latent
    from sketch2shape.optimize.sketch import RetrievalIndex, reconstruct_from_sketch, sketch_optimization_settings
    from sketch2shape.optimize.sketch_to_shape import ANSWER_MESH
    from sketch2shape.render.camera import Camera, cameras_from_json
    from sketch2shape.utils.device import resolve_device
    from sketch2shape.utils.io import save_image
    from sketch2shape.viz import image_grid, render_mesh

    deepsdf_ckpt = args.deepsdf_ckpt or str(DEMO_RUN / "train_deepsdf" / "checkpoints" / "last.ckpt")
    for flag, path in (("--deepsdf-ckpt", deepsdf_ckpt), ("--siamese-ckpt", args.siamese_ckpt)):
        if not Path(path).is_file():
            where = f" (looked for in {Path.cwd()}: run reconstruct from the folder the demo ran in)" if not Path(path).is_absolute() else ""
            raise SystemExit(f"error: {flag} {path} does not exist{where}: run `sketch2shape demo` first (it trains both models), or pass {flag} PATH")
    try:
        device = resolve_device(args.device, key="--device")
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    view = 13 if args.view is None else args.view
    model = load_deepsdf(deepsdf_ckpt, device)
    siamese = load_siamese(args.siamese_ckpt, device)
    layout = DatasetLayout(Path(args.data_dir) / (model.hparams.get("data_name") or "procedural_chair_16"))
    cameras = cameras_from_json(json.loads(layout.cameras.read_text())) if layout.cameras.is_file() else None
    if cameras is None:
        camera, framing, index = Camera(azimuth_deg=30.0, elevation_deg=35.0), Framing(), None
        print(f"[reconstruct] {layout.root} not found: default camera and framing, start from the mean code")
    else:
        try:
            view = int(view)
        except ValueError:
            raise SystemExit(f"error: --view {view!r}: without a sketch encoder the view is a dataset view index 0..{len(cameras) - 1}") from None
        if not 0 <= view < len(cameras):
            raise SystemExit(f"error: --view {view}: the dataset has views 0..{len(cameras) - 1}")
        camera = cameras[view]
        train = model.train_obj_ids
        framing = dataset_framing(layout, train, view)
        index = RetrievalIndex(siamese, layout, train, len(cameras), device) if args.init == "retrieval" else None
    try:
        sketch = normalize_sketch(gray, framing, name=str(args.sketches[0]))
    except SketchInputError as err:
        raise SystemExit(f"error: {err}") from None
    settings = sketch_optimization_settings(args.steps, args.silhouette_weight)
    result = reconstruct_from_sketch(sketch, camera, model, siamese, settings.optim, settings.tracing, settings.resolution, index=index, loss=settings.loss)
    mesh = mesh_latent(model, result.latent, dataclasses.replace(ANSWER_MESH, resolution=args.resolution or ANSWER_MESH.resolution))
    out = Path(args.out)
    write_mesh_or_exit(out, mesh)
    turntable = [render_mesh(mesh, Camera(azimuth_deg=a, elevation_deg=20.0, resolution=192)) for a in range(0, 360, 45)]
    preview = out.with_name(out.stem + "_preview.png")
    save_image(preview, image_grid([[np.repeat(np.asarray(Image.fromarray(sketch).resize((192, 192)))[..., None], 3, 2), *turntable[:4]], [np.full((192, 192, 3), 255, np.uint8), *turntable[4:]]]))
    print(f"[reconstruct] mesh: {out}  preview: {preview}")


def app(args: argparse.Namespace) -> None:
    """The browser app (sketch2shape.app): settings from sketch2shape/conf/app.yaml, overridden by the flags."""
    try:
        from sketch2shape.app.server import serve
        from sketch2shape.app.settings import load_settings
    except ImportError as err:
        raise SystemExit(f"sketch2shape app needs the app extra ({err.name} is missing): pip install -e \".[app]\"") from None
    try:
        settings = load_settings(args.config, host=args.host, port=args.port, model=args.model, deepsdf_ckpt=args.deepsdf_ckpt, encoder_ckpt=args.encoder_ckpt,
                                 siamese_ckpt=args.siamese_ckpt, data_dir=args.data_dir, device=args.device, threads=args.threads)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    serve(settings)


def run_task(name: str, overrides: Sequence[str], prog: str = "sketch2shape") -> object:
    """``sketch2shape <task> key=value ...``: the Hydra task ``name`` with these overrides; ``prog``:
    the command that started it (its help and errors name ``<prog> <task>``)."""
    sys.argv = [f"{prog} {name}", *overrides]
    return task_module(name).main()


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose mistakes end in one line and a hint instead of its whole usage block
    (exit status 2): ``sketch2shape reconstruct: error: ...`` then ``run 'sketch2shape reconstruct
    --help' for the options``. Its subcommands' parsers are of this class too."""

    def error(self, message: str) -> NoReturn:
        what = "the commands" if self._subparsers is not None else "the options"
        self.exit(2, f"{self.prog}: error: {message}\nrun '{self.prog} --help' for {what}\n")


COMMANDS = ("demo", "reconstruct", "train-release", "app")


def refuse_unknown_command(parser: argparse.ArgumentParser, name: str) -> NoReturn:
    """Exit (status 2, one line and a hint) for a command or task ``name`` that does not exist, with
    the ones it most likely means (:func:`closest_options`)."""
    close = closest_options(name, [*COMMANDS, *TASKS])
    guess = f" (did you mean {' or '.join(close)}?)" if close else ""
    parser.error(f"unknown command {name!r}{guess}; commands: {', '.join(COMMANDS)}; Hydra tasks: {', '.join(TASKS)}")


def main(argv: Sequence[str] | None = None) -> None:
    """The ``sketch2shape`` command (``python -m sketch2shape``): ``argv`` without the program name,
    default ``sys.argv[1:]``."""
    prog = "python -m sketch2shape" if argv is None and Path(sys.argv[0]).name == "__main__.py" else "sketch2shape"
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in TASKS:
        run_task(argv[0], argv[1:], prog)
        return
    parser = OneLineParser(
        prog=prog, description="Turn a 2D sketch into a 3D shape.",
        epilog=f"Hydra tasks ({prog} <task> key=value ..., --help for each): {', '.join(TASKS)}",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "demo", help="generate the built-in chairs, preprocess, train, reconstruct, write a report",
        description="Generate the built-in chairs, preprocess them, train DeepSDF and the Siamese network, evaluate, and write "
                    "<log-dir>/demo/<data>/report.md. Each stage runs into its own folder there and records its wall time when it "
                    "finishes; run again, the demo reuses the finished stages (the report gives their recorded times, marked reused) "
                    "and runs the rest. The report also says how many epochs each training ran of those planned, and whether its time "
                    "cap (trainer.max_time) stopped it. --rerun STAGE or --fresh run stages again.")
    p.add_argument("--data", default="procedural_chair_16", help="data config (default: procedural_chair_16)")
    p.add_argument("--data-dir", default="data", help="paths.data_dir (default: ./data)")
    p.add_argument("--log-dir", default="logs", help="paths.log_dir (default: ./logs); the demo writes to <log-dir>/demo/<data>")
    p.add_argument("--set", action="append", default=[], metavar="[STAGE:]KEY=VALUE", help="extra Hydra override for every stage, or for one stage (repeatable)")
    p.add_argument("--rerun", action="append", default=[], choices=DEMO_STAGES, metavar="STAGE",
                   help=f"run STAGE again, and the later stages that use its outputs, instead of reusing them: deletes their folders in "
                        f"<log-dir>/demo/<data>/ first (repeatable; stages: {', '.join(DEMO_STAGES)})")
    p.add_argument("--fresh", action="store_true", help="run every stage again: deletes the stage folders in <log-dir>/demo/<data>/ first "
                   "(the dataset in --data-dir is kept)")
    p.set_defaults(func=demo)
    r = sub.add_parser("reconstruct", help="reconstruct a 3D shape from your own sketch (PNG/JPEG/...; the pretrained models by default)")
    r.add_argument("sketches", nargs="+", metavar="SKETCH", help="the sketch image(s); several (e.g. sketches/*.png) with --out-dir")
    r.add_argument("--out", default=None, help="mesh file to write for one sketch (default shape.obj; .obj, .ply, .glb, .stl, ...: the suffix names the format); "
                   "a _preview.png is written next to it")
    r.add_argument("--out-dir", default=None, help="folder for the meshes of several sketches: <sketch name>.obj and _preview.png each, and summary.csv")
    r.add_argument("--model", default=None, help=f"the pretrained model: {', '.join(f'{m.name} ({m.about})' for m in PRETRAINED_MODELS.values())}; "
                   f"default {DEFAULT_MODEL}")
    r.add_argument("--also", action="append", default=[], metavar="SKETCH[@VIEW]",
                   help="another drawing of the same chair, optionally with its view (side.png@90,10 or side.png@4; repeatable): one shape is "
                        "chosen against all the drawings (the first shape is still the main drawing's)")
    r.add_argument("--view", default=None, help="where the sketch is drawn from: auto (default: estimated), a preprocessing view 0..23, or AZIMUTH,ELEVATION in degrees")
    r.add_argument("--deepsdf-ckpt", default=None, help="your DeepSDF (a train_deepsdf checkpoint or release file; default: the pretrained one)")
    r.add_argument("--encoder-ckpt", default=None, help="your sketch encoder for that DeepSDF (train_sketch_encoder; default: the pretrained one)")
    r.add_argument("--siamese-ckpt", default=None, help="without --encoder-ckpt: the demo's way (optimize from the mean code with this Siamese network)")
    r.add_argument("--data-dir", default="data", help="with --siamese-ckpt: paths.data_dir holding the dataset the checkpoints were trained on")
    r.add_argument("--init", choices=["mean", "retrieval"], default="mean", help="with --siamese-ckpt: the start code")
    r.add_argument("--steps", type=int, default=None, help="refinement steps after the encoder's shape (default: the method's, 0: the encoder's shape only, "
                   "since refining made the 3D shape no better on average; 30 to refine; with --siamese-ckpt: optimization steps)")
    r.add_argument("--no-refine", action="store_true", help="no gradient refinement (the default: it is off unless --steps is given)")
    r.add_argument("--no-search", action="store_true", help="answer with the encoder's shape: skip the search among candidate codes scored against the drawing's lines "
                        "(with --also, only the drawings' own codes are compared)")
    r.add_argument("--silhouette-weight", type=float, default=None, help="weight of the silhouette term in the refinement (default: the method's)")
    r.add_argument("--max-line-chamfer", type=float, default=None, help="line chamfer between the answer's lines and the drawing above which the answer is "
                   "reported as a poor match (exit 3; default: the method's, 0.05)")
    r.add_argument("--min-iou", type=float, default=None, help="silhouette IoU with the sketch below which the answer is also reported as a poor match (exit 3; default: not used)")
    r.add_argument("--resolution", type=int, default=None, help="marching cubes grid (default: the method's)")
    r.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    r.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:<index> | mps (default: auto, CUDA when available)")
    r.set_defaults(func=reconstruct)
    t = sub.add_parser("train-release", help="train the release models (DeepSDF + sketch encoder) on the built-in chairs and export them (95 min measured on 2 CPU cores; model_card.md)")
    t.add_argument("--data", default="procedural_chair_1024", help="data config (default: procedural_chair_1024, the built-in chairs alone; "
                   "chair_mix: those and the real ShapeNet chairs of --real-chairs, under ShapeNet's non-commercial terms)")
    t.add_argument("--real-chairs", default=str(REAL_CHAIRS), help=f"with --data chair_mix: the ShapeNetCore chair folder to import (default: {REAL_CHAIRS})")
    t.add_argument("--data-dir", default="data", help="paths.data_dir (default: ./data)")
    t.add_argument("--log-dir", default="logs", help="paths.log_dir (default: ./logs); runs go to <log-dir>/release/<data>")
    t.add_argument("--out", default=None, help="where to export the model files and model card (default: the package's sketch2shape/pretrained/<model>/: "
                   f"{', '.join(f'{m.name} for --data {m.data}' for m in PRETRAINED_MODELS.values())})")
    t.add_argument("--set", action="append", default=[], metavar="[STAGE:]KEY=VALUE", help="extra Hydra override for every stage, or for one stage, e.g. train_deepsdf:trainer.accelerator=gpu")
    t.set_defaults(func=train_release)
    a = sub.add_parser("app", help="a browser app: draw a sketch, get a 3D shape (a local web server; sketch2shape/conf/app.yaml)")
    a.add_argument("--host", help="address to listen on (default from sketch2shape/conf/app.yaml: 127.0.0.1, this machine only)")
    a.add_argument("--port", type=int, help="port (default from sketch2shape/conf/app.yaml: 7860)")
    a.add_argument("--model", help=f"the pretrained model: {', '.join(PRETRAINED_MODELS)} (default from sketch2shape/conf/app.yaml: {DEFAULT_MODEL})")
    a.add_argument("--deepsdf-ckpt", help="your DeepSDF (train_deepsdf checkpoint or release file; default: the pretrained one)")
    a.add_argument("--encoder-ckpt", help="your sketch encoder for that DeepSDF (default: the pretrained one)")
    a.add_argument("--siamese-ckpt", help="without --encoder-ckpt: the demo's way (optimize from the mean code with this Siamese network)")
    a.add_argument("--threads", type=int, help="torch CPU threads of the worker (default from sketch2shape/conf/app.yaml: 1; 0: torch's default)")
    a.add_argument("--data-dir", help="paths.data_dir holding the dataset the checkpoints were trained on (default: data)")
    a.add_argument("--device", help="auto | cpu | cuda | cuda:<index> | mps (default: auto)")
    a.add_argument("--config", default=None, help="settings file (default: sketch2shape/conf/app.yaml)")
    a.set_defaults(func=app)
    if set(sub.choices) != set(COMMANDS):
        raise AssertionError(f"COMMANDS {COMMANDS} must name the subcommands {sorted(sub.choices)}")
    if argv and not argv[0].startswith("-") and argv[0] not in sub.choices:
        refuse_unknown_command(parser, argv[0])
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        refuse_unknown(sub.choices[args.command], unknown)
    args.func(args)


def refuse_unknown(command: argparse.ArgumentParser, unknown: Sequence[str]) -> None:
    """Exit (status 2, no traceback) naming the arguments ``command`` does not take, each unknown
    option with the option it most likely means (:func:`closest_options`) and the value after it,
    else with the options it takes."""
    options = sorted({option for action in command._actions for option in action.option_strings})
    named: list[tuple[str, list[str]]] = []  # what was typed, the options it may mean
    value_may_follow = False
    for arg in unknown:
        if arg.startswith("-") and len(arg) > 1:
            named.append((arg, closest_options(arg.split("=", 1)[0], options)))
            value_may_follow = "=" not in arg
        elif value_may_follow:  # the value typed after an unknown option: shown with it
            named[-1] = (f"{named[-1][0]} {arg}", named[-1][1])
            value_may_follow = False
        else:
            named.append((arg, []))
    listed = ", ".join(f"{typed} (did you mean {' or '.join(close)}?)" if close else typed for typed, close in named)
    guessed = any(close for _, close in named)
    command.error(f"unrecognized arguments: {listed}" + ("" if guessed else f"; it takes {', '.join(options)}"))

if __name__ == "__main__":
    main()
