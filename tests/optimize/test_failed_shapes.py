"""A long reconstruction run that meets one bad shape records it in failures.csv and carries on."""

import pandas as pd
import pytest

from sketch2shape.optimize.reconstruct import SHAPE_ERRORS, attempt_shape, write_failures


def test_a_failing_shape_is_recorded_and_the_next_one_still_runs(tmp_path):
    failures: list[dict] = []
    done = []

    def build(obj_id):
        if obj_id == "bad":
            raise FileNotFoundError(f"{obj_id}/surface_samples.npy is missing")
        return obj_id

    for obj_id in ("a", "bad", "b"):
        result = attempt_shape(failures, obj_id, lambda obj_id=obj_id: build(obj_id), method="mean")
        if result is not None:
            done.append(result)
    assert done == ["a", "b"]
    assert failures == [{"method": "mean", "obj_id": "bad", "error": "bad/surface_samples.npy is missing"}]
    write_failures(tmp_path / "failures.csv", failures)
    assert pd.read_csv(tmp_path / "failures.csv").to_dict("records") == failures
    write_failures(tmp_path / "none.csv", [])
    assert not (tmp_path / "none.csv").exists()


def test_an_unexpected_error_is_not_swallowed():
    assert RuntimeError in SHAPE_ERRORS and TypeError not in SHAPE_ERRORS

    def broken():
        raise TypeError("a bug, not a bad shape")

    with pytest.raises(TypeError):
        attempt_shape([], "a", broken)
