"""The sketch2shape command refuses an option a subcommand does not take, naming the closest one."""

import pytest

from sketch2shape.cli import main


@pytest.mark.parametrize("argv, wrong, meant", [
    (["reconstruct", "sketch.png", "--refine-steps", "30"], "--refine-steps", "--steps"),
    (["demo", "--dta", "procedural_chair_4"], "--dta", "--data"),
    (["app", "--prot", "8000"], "--prot", "--port"),
])
def test_an_unknown_option_is_refused_with_the_closest_one(argv, wrong, meant, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"sketch2shape {argv[0]}: error: unrecognized arguments: {wrong} (did you mean {meant}?)" in err
    assert "Traceback" not in err
