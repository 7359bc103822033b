"""The sketch2shape command: expected mistakes in its arguments end with one clear line."""

import sys

import pytest
import trimesh

from sketch2shape.cli import main
from sketch2shape.utils.io import MESH_SUFFIXES, save_mesh


@pytest.mark.parametrize("argv, wrong, meant", [
    (["reconstruct", "sketch.png", "--refine-steps", "30"], "--refine-steps 30", "--steps"),
    (["demo", "--dta", "procedural_chair_4"], "--dta procedural_chair_4", "--data"),
    (["app", "--prot", "8000"], "--prot 8000", "--port"),
])
def test_an_unknown_option_is_refused_with_the_closest_one(argv, wrong, meant, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"sketch2shape {argv[0]}: error: unrecognized arguments: {wrong} (did you mean {meant}?)" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("typed, meant", [
    ("--refine-stpes", "--steps"), ("--stpes", "--steps"), ("--stesp", "--steps"), ("--optim-steps", "--steps"),
    ("--resolutoin", "--resolution"), ("--mesh-resolution", "--resolution"), ("--out-file", "--out"), ("--output", "--out"),
    ("--min_iou", "--min-iou"), ("--num-threads", "--threads"), ("--deepsdf-checkpoint", "--deepsdf-ckpt"),
    ("--encoder-checkpoint", "--encoder-ckpt"), ("--weight", "--silhouette-weight"), ("--devcie", "--device"), ("--veiw", "--view"),
    ("--no-refien", "--no-refine"), ("--ckpt", "--deepsdf-ckpt or --encoder-ckpt or --siamese-ckpt"),
])
def test_reconstruct_finds_the_option_a_typo_means(typed, meant, capsys):
    """Misspelled, prefixed, abbreviated or underscored: the options reconstruct really takes."""
    with pytest.raises(SystemExit) as stop:
        main(["reconstruct", "sketch.png", typed, "30"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"sketch2shape reconstruct: error: unrecognized arguments: {typed} 30 (did you mean {meant}?)" in err
    assert "Traceback" not in err


def test_an_option_like_none_is_refused_with_the_options(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["reconstruct", "sketch.png", "--iters=5", "extra"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --iters=5, extra; it takes --also, --data-dir, --deepsdf-ckpt, --device," in err


def test_reconstruct_refuses_a_bad_output_suffix_and_a_missing_sketch_before_loading_anything(tmp_path, capsys):
    """Expected mistakes end with one line, before the models load (and never after the work)."""
    sketch = tmp_path / "chair.png"
    sketch.write_bytes(b"not read: the output suffix is checked first")
    for argv, message in [
        (["reconstruct", str(sketch), "--out", str(tmp_path / "chair.xyz")], "cannot write a mesh as .xyz; use one of .obj, .ply"),
        (["reconstruct", str(tmp_path / "missing.png")], "missing.png does not exist"),
        (["reconstruct", str(tmp_path)], "is a folder, not an image file"),
    ]:
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert message in str(stop.value.code)
    assert not list(tmp_path.glob("chair*.xyz"))


@pytest.mark.parametrize("suffix", MESH_SUFFIXES)
def test_every_accepted_mesh_suffix_is_written_and_reads_back(suffix, tmp_path):
    box = trimesh.creation.box()
    save_mesh(tmp_path / f"box{suffix}", box)
    assert len(trimesh.load(tmp_path / f"box{suffix}", force="mesh").faces) == len(box.faces)
    with pytest.raises(ValueError, match=r"box\.xyz: cannot write a mesh as \.xyz"):
        save_mesh(tmp_path / "box.xyz", box)


def test_reconstruct_names_a_bad_view_or_device_as_the_flag_it_came_from(tmp_path):
    from tests.conftest import REPO_ROOT

    sketch = str(REPO_ROOT / "examples" / "office_chair.png")
    for argv, message in [
        (["reconstruct", sketch, "--out", str(tmp_path / "a.obj"), "--view", "30,200"], "--view 30,200: elevation_deg=200.0 must be within +-89"),
        (["reconstruct", sketch, "--out", str(tmp_path / "a.obj"), "--device", "gpu"], "--device 'gpu' is not a device; accepted: auto, cpu, cuda"),
    ]:
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert message in str(stop.value.code)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("argv, message", [
    (["reconstruct", "sketch.png", "--stpes", "30"], "sketch2shape reconstruct: error: unrecognized arguments: --stpes 30 (did you mean --steps?)"),
    (["reconstruct"], "sketch2shape reconstruct: error: the following arguments are required: SKETCH"),
    (["reconstruct", "sketch.png", "--init", "zero"], "sketch2shape reconstruct: error: argument --init: invalid choice: 'zero'"),
    (["demo", "--dta", "x", "--log-dri", "y"], "sketch2shape demo: error: unrecognized arguments: --dta x (did you mean --data?), --log-dri y (did you mean --log-dir?)"),
    (["train-release", "--out"], "sketch2shape train-release: error: argument --out: expected one argument"),
    (["app", "--port", "eighty"], "sketch2shape app: error: argument --port: invalid int value: 'eighty'"),
    ([], "sketch2shape: error: the following arguments are required: command"),
    (["demoo"], "sketch2shape: error: unknown command 'demoo' (did you mean demo?); commands: demo, reconstruct, train-release, app; Hydra tasks: copy_shapenet,"),
    (["train-deepsdf"], "sketch2shape: error: unknown command 'train-deepsdf' (did you mean train_deepsdf?)"),
])
def test_argument_errors_are_one_line_and_a_hint_without_the_usage_block(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    command = message.split(": error:")[0]
    assert len(lines) == 2 and lines[0].startswith(message), lines
    assert lines[1] == f"run '{command} --help' for " + ("the commands" if command == "sketch2shape" else "the options")


def test_a_hydra_task_refuses_a_mistyped_flag_in_one_line_and_a_hint(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["sketch2shape"])  # run_task sets the task's own
    with pytest.raises(SystemExit) as stop:
        main(["eval_siamese", "--cfgg", "job"])
    assert stop.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and lines[0].startswith("sketch2shape eval_siamese: error: unrecognized arguments: --cfgg (did you mean --cfg?); "
                                                   "it takes key=value overrides and Hydra's flags --cfg,"), lines
    assert lines[1] == "run 'sketch2shape eval_siamese --help' for the options"
