"""The warm worker (vae/worker.py): same weights as a cold run, lower priority, crash- and stop-safe."""

from __future__ import annotations

import sys
import time

import numpy as np
import psutil
import pytest

from vae import procs, worker
from vae.config import DataConfig, ModelConfig, TrainConfig
from vae.jobs import JobManager

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the warm worker forks: Linux only")
GUARD_S = 120  # against hangs only


def _wait(mgr: JobManager, job_id: str) -> str:
    deadline = time.monotonic() + GUARD_S
    while time.monotonic() < deadline:
        s = mgr.status(job_id)
        if not s.active:
            return s.state
        time.sleep(0.1)
    raise TimeoutError(job_id)


def _tensors(path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(path))


def test_worker_run_is_bit_identical_to_a_cold_run(tmp_path, monkeypatch):
    model, train, data = ModelConfig(hidden=(32,)), TrainConfig(epochs=2, batch_size=64, seed=3), DataConfig()
    cold = JobManager(tmp_path / "cold", background=False, warm=False)
    warm = JobManager(tmp_path / "warm", background=False, warm=True)
    try:
        a = cold.submit(model, train, data, "same")
        assert not cold._worker and warm._worker.ready(worker.READY_TIMEOUT_S)
        monkeypatch.setattr(procs, "start", lambda *a, **k: pytest.fail("the warm manager started a cold process"))
        b = warm.submit(model, train, data, "same")  # so this one really goes through the worker
        assert _wait(cold, a.id) == "done" and _wait(warm, b.id) == "done"
        ta, tb = _tensors(a.checkpoint), _tensors(b.checkpoint)
        assert ta.keys() == tb.keys() and ta
        for k in ta:
            assert np.array_equal(ta[k], tb[k]), k
    finally:
        cold.close()
        warm.close()


def test_worker_job_runs_niced_and_stops_cleanly(tmp_path):
    mgr = JobManager(tmp_path, background=False, warm=True)
    try:
        assert mgr._worker.ready(worker.READY_TIMEOUT_S)  # a job submitted before that may start cold
        job = mgr.submit(ModelConfig(hidden=(32,)), TrainConfig(epochs=500, batch_size=16), DataConfig(), "long")
        spec = mgr._read_spec(job.id)
        child = psutil.Process(spec["pid"])
        assert child.nice() >= procs.NICENESS  # set before the worker reports the pid
        assert child.pid not in [c.pid for c in psutil.Process().children()]  # not the server's own child
        deadline = time.monotonic() + GUARD_S
        while mgr.status(job.id).epoch < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        mgr.stop(job.id)
        assert _wait(mgr, job.id) == "stopped"
        from vae.checkpoint import load_checkpoint

        assert len(load_checkpoint(job.checkpoint).history) >= 1  # the last finished epoch is kept
    finally:
        mgr.close()


def test_a_crashing_job_leaves_the_worker_serving(tmp_path):
    w = worker.WarmWorker(cwd=worker.__file__.rsplit("/vae/", 1)[0])
    try:
        err = tmp_path / "crash.stderr.txt"
        w.start()
        assert w.ready(worker.READY_TIMEOUT_S)
        started = w.launch([sys.executable, "-m", "vae", "train", "--spec", str(tmp_path / "missing.json")],
                           cwd=tmp_path, stderr_path=err, env={"PATH": "/usr/bin:/bin"})
        assert started is not None
        pid, created = started
        deadline = time.monotonic() + GUARD_S
        while procs.is_alive(pid, created):  # the worker may reap it at any moment: no second probe that could race
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert "missing.json" in err.read_text()  # the child's own error, in its own stderr file
        # a child killed outright does not take the worker with it either
        again = w.launch([sys.executable, "-m", "vae", "train", "--spec", str(tmp_path / "missing.json")],
                         cwd=tmp_path, stderr_path=err, env={})
        assert again is not None and w.ready()
        try:
            psutil.Process(again[0]).kill()
        except psutil.NoSuchProcess:
            pass
        while procs.is_alive(*again):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        third = w.launch([sys.executable, "-m", "vae", "train", "--spec", str(tmp_path / "missing.json")],
                         cwd=tmp_path, stderr_path=err, env={})  # the worker still serves after the kill
        assert third is not None and third[0] != again[0] and w._proc.poll() is None
    finally:
        w.close()


def test_a_dead_worker_is_replaced_and_jobs_fall_back(tmp_path):
    mgr = JobManager(tmp_path, background=False, warm=True)
    try:
        assert mgr._worker.ready(worker.READY_TIMEOUT_S)
        mgr._worker._proc.kill()
        mgr._worker._proc.wait()
        job = mgr.submit(ModelConfig(hidden=(32,)), TrainConfig(epochs=1, batch_size=64), DataConfig(), "after")
        assert _wait(mgr, job.id) == "done"  # through a fresh worker or, failing that, a cold subprocess
    finally:
        mgr.close()


def test_bad_requests_are_answered_not_fatal():
    import io
    import json
    import os

    r, wfd = os.pipe()
    os.write(wfd, b'not json\n{"argv": 3}\n')
    os.close(wfd)
    out = io.StringIO()
    with os.fdopen(r) as inp:
        worker.serve(inp, out)  # returns at EOF
    replies = [json.loads(line) for line in out.getvalue().splitlines()]
    assert replies[0]["ready"] and all("error" in x for x in replies[1:]) and len(replies) == 3


def test_disabled_by_env(monkeypatch):
    monkeypatch.setenv("VAE_WARM_WORKER", "0")
    assert not worker.enabled()
    import tempfile

    mgr = JobManager(tempfile.mkdtemp(), background=False)
    assert mgr._worker is None
    mgr.close()
