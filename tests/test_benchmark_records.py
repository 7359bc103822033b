"""What the benchmarks write into the repository names no folder of the machine they ran on."""

from __future__ import annotations

import argparse
import importlib.util
import re

from tests.conftest import REPO_ROOT

MACHINE_PATH = re.compile(r"(?<![\w<.])/(?:tmp|home|work|root|Users|mnt|scratch)/")


def load_benchmark(name: str):
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", REPO_ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_sketch_to_shape_benchmark_records_its_command_without_machine_paths():
    bench = load_benchmark("sketch_to_shape")
    argv = ["benchmarks/sketch_to_shape.py", "--data-dir", "/scratch/me/data", "--pairs-dir", "/scratch/me/data/pairs", "--workers", "2",
            "--out", "/tmp/run", "--model-card"]
    assert bench.portable_command(argv, argparse.Namespace(data_dir="/scratch/me/data")) == (
        "python benchmarks/sketch_to_shape.py --data-dir <data> --pairs-dir <data>/pairs --workers 2 --model-card")
    # a relative data folder: only the folder's own words are replaced, not "--data-dir" or "--data"
    argv = ["benchmarks/sketch_to_shape.py", "--data-dir", "data", "--data", "procedural_chair_1024", "--out=/tmp/run"]
    assert bench.portable_command(argv, argparse.Namespace(data_dir="data")) == (
        "python benchmarks/sketch_to_shape.py --data-dir <data> --data procedural_chair_1024")


def test_the_committed_records_name_no_machine_folder():
    records = [REPO_ROOT / "README.md", *(REPO_ROOT / "sketch2shape" / "pretrained").glob("model_card.*"),
               *(REPO_ROOT / "benchmarks" / "results").rglob("*.md")]
    found = [f"{path.relative_to(REPO_ROOT)}: {match.group(0)}" for path in records for match in MACHINE_PATH.finditer(path.read_text())]
    assert not found, found
