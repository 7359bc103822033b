"""Preprocessing as processes: workers die with their parent, SIGTERM stops the pool, one run per
dataset (or shard) at a time, unique run folders, leftovers of a killed run are cleaned up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sketch2shape.data.preprocess.lock import DatasetBusyError, DatasetLock
from sketch2shape.utils import hydra as hydra_utils
from tests.conftest import REPO_ROOT
from tests.data.test_preprocess_pipeline import TINY

# The shipped settings of procedural_chair_4: a shape takes many seconds, so workers are busy when killed.
SLOW = ["data=procedural_chair_4"]
FAST = [a for a in TINY if a != "workers=1"]


def start(root: Path, *args: str) -> subprocess.Popen:
    """preprocess_data in the background, in its own process group (as a terminal runs it);
    its stdout + stderr go to a file, see :func:`output`."""
    command = [sys.executable, "scripts/preprocess_data.py", *args, f"paths.root_dir={root}"]
    log = open(root / f"preprocess_{time.monotonic_ns()}.out", "w+")
    # SIGINT back to its default: a job started in the background (`cmd &`, nohup, some CI runners)
    # inherits SIGINT ignored, and Python then never turns Ctrl-C into KeyboardInterrupt
    proc = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    proc.log = log
    return proc


def output(proc: subprocess.Popen) -> str:
    proc.log.flush()
    return Path(proc.log.name).read_text()


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a live process, None once it is gone (zombies count as gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return None if fields[0] in ("Z", "X") else (fields[0], int(fields[1]))


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = proc_stat(int(entry.name))
            if stat and stat[1] == pid:
                out.append(int(entry.name))
    return out


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains ``text`` (forked workers share the parent's)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and proc_stat(int(entry.name)):
            out.append(int(entry.name))
    return out


def wait_for(predicate, timeout: float, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, "ctrl-c"])
def test_killing_preprocess_leaves_no_worker_behind(tmp_path, signum):
    """kill -9 / kill (SIGTERM) of the main process, or Ctrl-C (SIGINT to the whole process group)."""
    proc = start(tmp_path, *SLOW, "workers=2")
    try:
        workers = wait_for(lambda: len(children(proc.pid)) >= 2 and children(proc.pid), timeout=120)
        assert workers and len(workers) >= 2, f"no workers appeared: {proc.poll()} {output(proc)[-3000:]}"
        time.sleep(1.0)  # the workers are in the middle of a shape
        assert proc.poll() is None
        killed_at = time.monotonic()
        if signum == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signum)
        workers_gone = wait_for(lambda: all(proc_stat(pid) is None for pid in workers), timeout=5.0, step=0.02)
        worker_seconds = time.monotonic() - killed_at
        proc.wait(timeout=30)
        parent_seconds = time.monotonic() - killed_at
        none_left = wait_for(lambda: not processes_mentioning(str(tmp_path)), timeout=5.0)
        name = signum if signum == "ctrl-c" else signal.Signals(signum).name
        print(f"{name}: workers {workers} gone {worker_seconds:.2f} s, "
              f"parent {parent_seconds:.2f} s after the kill")
        assert workers_gone, f"workers left: {[pid for pid in workers if proc_stat(pid)]}"
        assert none_left, f"processes left: {processes_mentioning(str(tmp_path))}"
        if signum != signal.SIGKILL:
            text = output(proc)
            code, reason = (130, "Ctrl-C") if signum == "ctrl-c" else (143, "stopped by SIGTERM")
            assert proc.returncode == code, text[-2000:]
            assert f"interrupted ({reason})" in text and "rerun the same command to resume" in text
            assert "Traceback" not in text and "Error" not in text
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in processes_mentioning(str(tmp_path)):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_watchdog_ends_a_worker_whose_parent_died_without_pdeathsig(tmp_path):
    """The portable half: without prctl, the getppid watchdog still ends the orphan."""
    script = f"""
import os, sys, time
sys.path.insert(0, {str(REPO_ROOT)!r})
from sketch2shape.utils import workers
workers._set_parent_death_signal = lambda signum: False  # as on macOS
parent = os.getpid()
child = os.fork()
if child == 0:
    workers.die_with_parent(parent, poll_seconds=0.2)
    time.sleep(60)
    os._exit(0)
print(child, flush=True)
time.sleep(0.5)
os._exit(0)  # the parent dies, the child is orphaned
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    child = int(out.stdout.split()[0])
    assert wait_for(lambda: proc_stat(child) is None, timeout=3.0), "the orphaned worker is still alive"


def test_shard_locks_let_shards_run_together_but_not_twice(tmp_path):
    first = DatasetLock(tmp_path, shard="0/2").acquire()
    second = DatasetLock(tmp_path, shard="1/2").acquire()  # another shard: fine
    try:
        with pytest.raises(DatasetBusyError, match=rf"pid {os.getpid()} .*\(shard 0/2\).*lock=wait"):
            DatasetLock(tmp_path, shard="0/2").acquire()
        with pytest.raises(DatasetBusyError, match=r"shard 1/2"):
            DatasetLock(tmp_path).acquire()  # the whole dataset overlaps every shard
    finally:
        first.release()
        second.release()
    with DatasetLock(tmp_path) as whole:
        assert whole.exclusive and json.loads((tmp_path / ".preprocess.lock").read_text())["pid"] == os.getpid()
        with pytest.raises(DatasetBusyError, match=rf"pid {os.getpid()} on "):
            DatasetLock(tmp_path, shard="0/2").acquire()


@pytest.mark.slow
def test_a_second_run_fails_or_waits_and_cleans_up_after_a_killed_run(tmp_path):
    # The holder is a process that takes the dataset's lock and keeps it until it is killed (a real
    # preprocessing run could finish first on a busy machine, which made this test flaky).
    dataset = tmp_path / "data" / "procedural_chair_4"
    dataset.mkdir(parents=True)
    script = (
        "import sys, time; from sketch2shape.data.preprocess.lock import DatasetLock; "
        "lock = DatasetLock(sys.argv[1]).acquire(); print('locked', flush=True); time.sleep(600)"
    )
    log = open(tmp_path / "holder.out", "w+")
    holder = subprocess.Popen([sys.executable, "-c", script, str(dataset)], cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    holder.log = log
    lock_file = dataset / ".preprocess.lock"

    def holder_pid():
        try:
            return json.loads(lock_file.read_text())["pid"]
        except (OSError, ValueError, KeyError):
            return None

    try:
        assert wait_for(lambda: holder_pid() == holder.pid, timeout=120), output(holder)[-3000:]
        # lock=fail (the default): a one-line message naming the running one
        second = subprocess.run(
            [sys.executable, "scripts/preprocess_data.py", *FAST, "workers=1", f"paths.root_dir={tmp_path}"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
        )
        assert second.returncode == 1
        assert f"pid {holder.pid} on " in second.stderr and "lock=wait" in second.stderr
        assert "Traceback" not in second.stderr
        # lock=wait: waits, says for whom; once the holder is killed it runs and removes its leftovers
        shape_dir = tmp_path / "data" / "procedural_chair_4" / "shapes" / "chair_00000"
        stale = shape_dir / ".normalized_mesh.k1ll3d_x.tmp.obj"
        shape_dir.mkdir(parents=True, exist_ok=True)
        stale.write_text("half a mesh")
        waiting = start(tmp_path, *FAST, "workers=1", "lock=wait", "obj_ids=[chair_00000]")
        assert wait_for(lambda: "waiting for the preprocessing run" in output(waiting), timeout=120), output(waiting)[-3000:]
        time.sleep(1.0)
        assert waiting.poll() is None and stale.exists()  # still waiting, nothing touched
        holder.kill()
        holder.wait()
        waiting.wait(timeout=180)
        text = output(waiting)
        assert waiting.returncode == 0, text[-3000:]
        assert f"waiting for the preprocessing run holding {lock_file}: pid {holder.pid} on " in text
        assert "removed 1 temporary file(s)" in text and not stale.exists()
        assert (shape_dir / "sdf_samples.npy").is_file()
    finally:
        for proc in (holder, locals().get("waiting")):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path, monkeypatch):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    base = str(tmp_path / "runs" / "2024-01-01_10-00-00")
    monkeypatch.setattr(hydra_utils, "_claimed_dirs", {})
    assert hydra_utils.unique_dir(base) == base
    assert hydra_utils.unique_dir(base) == base  # the same process asks again: the same folder
    monkeypatch.setattr(hydra_utils, "_claimed_dirs", {})  # another process, same second
    assert hydra_utils.unique_dir(base) == base + "_2"
    monkeypatch.setattr(hydra_utils, "_claimed_dirs", {})
    assert hydra_utils.unique_dir(base) == base + "_3"
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["2024-01-01_10-00-00", "2024-01-01_10-00-00_2", "2024-01-01_10-00-00_3"]
    # every task's run folder goes through it
    with initialize_config_dir(config_dir=str(hydra_utils.config_dir()), version_base="1.3"):
        cfg = hydra_compose("preprocess_data", return_hydra_config=True)
    from omegaconf import OmegaConf

    raw = OmegaConf.to_container(cfg.hydra, resolve=False)
    assert raw["run"]["dir"].startswith("${unique_dir:") and raw["sweep"]["dir"].startswith("${unique_dir:")
    # a multirun job in another process (SLURM) gets the launcher's config with its resolver cache
    # (Hydra copies it, as for ${now:}): it must find the same sweep folder, not claim a new one
    cfg.paths.log_dir = str(tmp_path / "logs")
    sweep_dir = cfg.hydra.sweep.dir
    job_cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    OmegaConf.copy_cache(from_config=cfg, to_config=job_cfg)
    monkeypatch.setattr(hydra_utils, "_claimed_dirs", {})
    assert job_cfg.hydra.sweep.dir == sweep_dir and Path(sweep_dir).is_dir()
