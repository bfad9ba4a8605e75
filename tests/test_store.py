"""The run store as the runs folder's one owner: naming and reservations across processes (finding 5), quotas
(findings 6, 7), stop/cancel by the starting session only (finding 11)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vae.config import DataConfig, ModelConfig, TrainConfig
from vae.jobs import JobManager, NotOwner
from vae.runs import JOB_SUFFIX, RunStore
from vae.uploads import UploadError, save_checkpoint_upload, save_dataset_upload

ROOT = Path(__file__).resolve().parents[1]
MODEL = ModelConfig(latent_dim=2, hidden=(8,))
TRAIN = TrainConfig(epochs=1, batch_size=64)
DATA = DataConfig(name="digits")

RACER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from vae.runs import RunStore
    from vae.uploads import save_checkpoint_upload
    root, blob_path, go, n = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    store, blob = RunStore(root), Path(blob_path).read_bytes()
    while time.time() < go:  # both processes start racing at the same moment
        pass
    out = {"reserved": [], "uploaded": []}
    for i in range(n):
        out["reserved"].append(store.reserve_run("same").stem)
        out["uploaded"].append(store.stem(save_checkpoint_upload(store, "same.safetensors", blob)))
    print(json.dumps(out))
""")


def test_two_stores_in_two_processes_never_hand_out_the_same_name(tmp_path, tiny_ckpts):
    """Queued runs and uploads race for one name from two server processes: every name is handed out once, and
    no upload ever lands on a path a queued run has reserved."""
    import time

    root = tmp_path / "runs"
    root.mkdir()
    go, n = time.time() + 3.0, 12
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(root), str(tiny_ckpts["pca"]), str(go), str(n)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = []
    for p in racers:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    reserved = [s for r in results for s in r["reserved"]]
    uploaded = [s for r in results for s in r["uploaded"]]
    assert len(set(reserved + uploaded)) == 4 * n  # no name handed out twice
    for stem in reserved:  # each reservation is intact: a job spec, and no upload on its checkpoint path
        assert (root / f"{stem}{JOB_SUFFIX}").exists() and not (root / f"{stem}.safetensors").exists()
    for stem in uploaded:
        assert (root / f"{stem}.safetensors").stat().st_size == tiny_ckpts["pca"].stat().st_size
        assert not (root / f"{stem}{JOB_SUFFIX}").exists()


def test_an_upload_cannot_take_a_queued_runs_path(tmp_path, tiny_ckpts):
    mgr = JobManager(tmp_path / "runs", background=False)
    mgr.max_jobs = 0  # stays queued
    job = mgr.submit(MODEL, TRAIN, DATA, "lesson")
    assert job.state == "queued" and job.name == "lesson"
    ckpt_id = save_checkpoint_upload(mgr.store, "lesson.safetensors", tiny_ckpts["vae"].read_bytes())
    assert ckpt_id == "run/lesson-2"  # the queued run keeps "lesson"
    assert not Path(job.checkpoint).exists()


def test_upload_quotas_have_defaults_env_overrides_and_clear_messages(tmp_path, tiny_ckpts, monkeypatch):
    import io

    import numpy as np

    store = RunStore(tmp_path / "runs")
    blob = tiny_ckpts["vae"].read_bytes()
    monkeypatch.setenv("VAE_MAX_UPLOADS", "2")
    save_checkpoint_upload(store, "a.safetensors", blob)
    buf = io.BytesIO()
    np.savez(buf, x=np.zeros((4, 8, 8), np.uint8))
    save_dataset_upload(store, "d.npz", buf.getvalue())
    with pytest.raises(UploadError, match="already keeps 2 uploads.*VAE_MAX_UPLOADS"):
        save_checkpoint_upload(store, "b.safetensors", blob)
    monkeypatch.setenv("VAE_MAX_UPLOADS", "100")
    monkeypatch.setenv("VAE_MAX_RUNS_MB", "0")
    with pytest.raises(UploadError, match="runs folder would exceed.*VAE_MAX_RUNS_MB"):
        save_checkpoint_upload(store, "b.safetensors", blob)
    with pytest.raises(Exception, match="runs folder is full"):
        JobManager(store.runs_root, background=False).submit(MODEL, TRAIN, DATA, "r")
    monkeypatch.setenv("VAE_MAX_RUNS_MB", "nonsense")  # a malformed setting keeps the default
    assert store.stem(save_checkpoint_upload(store, "b.safetensors", blob)) == "b"


def test_a_session_may_queue_only_its_share(tmp_path, monkeypatch):
    from vae.config import ConfigError

    monkeypatch.setenv("VAE_MAX_QUEUED_PER_SESSION", "3")
    mgr = JobManager(tmp_path / "runs", background=False)
    mgr.max_jobs = 0
    for i in range(3):
        mgr.submit(MODEL, TRAIN, DATA, f"r{i}", owner="alice")
    with pytest.raises(ConfigError, match="at most 3"):
        mgr.submit(MODEL, TRAIN, DATA, "r4", owner="alice")
    with pytest.raises(ConfigError, match="at most 3"):
        mgr.submit_sweep("s", [1.0], MODEL, TRAIN, DATA, owner="alice")
    mgr.submit(MODEL, TRAIN, DATA, "bob's", owner="bob")  # another session has its own share
    mgr.stop("run/r0", by="alice")  # a cancelled run frees a place
    mgr.submit(MODEL, TRAIN, DATA, "r4", owner="alice")


def test_sweep_size_is_capped(tmp_path, monkeypatch):
    from vae.config import ConfigError

    mgr = JobManager(tmp_path / "runs", background=False)
    mgr.max_jobs = 0
    with pytest.raises(ConfigError, match="at most 12"):
        mgr.submit_sweep("s", [0.1 * (i + 1) for i in range(13)], MODEL, TRAIN, DATA)
    assert mgr.jobs() == []
    assert len(mgr.jobs(sweep=mgr.submit_sweep("s", [0.1 * (i + 1) for i in range(12)], MODEL, TRAIN, DATA))) == 12


def test_only_the_starting_session_may_stop_or_cancel(tmp_path, monkeypatch):
    mgr = JobManager(tmp_path / "runs", background=False)
    mgr.max_jobs = 0
    job = mgr.submit(MODEL, TRAIN, DATA, "mine", owner="alice")
    assert mgr.can_stop(job.id, "alice") and not mgr.can_stop(job.id, "mallory") and not mgr.can_stop(job.id, None)
    with pytest.raises(NotOwner):
        mgr.stop(job.id, by="mallory")
    with pytest.raises(NotOwner):
        mgr.stop(job.id)
    assert mgr.status(job.id).state == "queued"
    monkeypatch.setenv("VAE_SINGLE_USER", "1")  # one trusted user: anyone may
    assert mgr.can_stop(job.id, "mallory")
    mgr.stop(job.id, by="mallory")
    assert mgr.status(job.id).state == "stopped"


def test_another_visitor_sees_a_running_job_read_only(runs_dir, monkeypatch):
    """Through the real Train page: no Stop button for a run another session started, Stop for one's own."""
    from streamlit.testing.v1 import AppTest

    from vae import procs

    started = []

    def fake_launch(self, spec):  # a sleeping process stands in for training: the page only reads state
        proc, created = procs.start([sys.executable, "-c", "import time; time.sleep(120)"], cwd=ROOT,
                                    stderr_path=runs_dir / "sleep.err")
        started.append(proc)
        return proc.pid, created

    monkeypatch.setattr(JobManager, "_launch", fake_launch)
    try:
        mgr = JobManager(runs_dir, background=False)
        theirs = mgr.submit(MODEL, TRAIN, DATA, "theirs", owner="someone-else")
        assert theirs.state == "running"
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.session_state["train_job"] = theirs.id
        at.switch_page("pages/train.py").run()
        assert not at.exception, at.exception
        assert not [b for b in at.button if b.key == f"train_stop_{theirs.id}"]
        assert any("only they can stop it" in c.value for c in at.caption)
        assert mgr.status(theirs.id).state == "running"
    finally:
        for p in started:
            p.kill()
            p.wait()


# ---- quotas under the store lock: a double submit (or upload) cannot go one over --------------------------------
def _race(n: int, fn) -> tuple[list, list[Exception]]:
    """fn(i) in n threads released at once by a barrier; (results, exceptions)."""
    import threading

    barrier, results, errors, guard = threading.Barrier(n), [], [], threading.Lock()

    def run(i: int) -> None:
        barrier.wait()
        try:
            r = fn(i)
            with guard:
                results.append(r)
        except Exception as e:  # collected and checked below
            with guard:
                errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results, errors


def _owned(mgr: JobManager, owner: str) -> int:
    return sum(1 for p in mgr.root.rglob("*" + JOB_SUFFIX) if json.loads(p.read_text() or "{}").get("owner") == owner)


def test_racing_submits_take_exactly_the_queue_quota(tmp_path, monkeypatch):
    from vae.config import ConfigError

    monkeypatch.setenv("VAE_MAX_QUEUED_PER_SESSION", "3")
    mgr = JobManager(tmp_path / "runs", background=False)
    mgr.max_jobs = 0  # everything stays queued
    results, errors = _race(8, lambda i: mgr.submit(MODEL, TRAIN, DATA, f"r{i}", owner="alice"))
    assert len(results) == 3 and len(errors) == 5, (len(results), errors)
    assert all(isinstance(e, ConfigError) and "may have at most 3" in str(e) for e in errors), errors
    assert _owned(mgr, "alice") == 3
    # sweeps of 2 runs each, from another session: one fits in its 3 places, a second would make 4
    results, errors = _race(6, lambda i: mgr.submit_sweep(f"s{i}", [1.0, 2.0], MODEL, TRAIN, DATA, owner="bob"))
    assert len(results) == 1 and len(errors) == 5, (len(results), errors)
    assert all(isinstance(e, ConfigError) and "may have at most 3" in str(e) for e in errors), errors
    assert _owned(mgr, "bob") == 2


def test_racing_uploads_take_exactly_the_upload_quota(tmp_path, tiny_ckpts, monkeypatch):
    monkeypatch.setenv("VAE_MAX_UPLOADS", "2")
    store, blob = RunStore(tmp_path / "runs"), tiny_ckpts["pca"].read_bytes()
    results, errors = _race(8, lambda i: save_checkpoint_upload(store, f"u{i}.safetensors", blob))
    assert len(results) == 2 and len(errors) == 6, (results, errors)
    assert all(isinstance(e, UploadError) and "already keeps 2 uploads" in str(e) for e in errors), errors
    assert len(list(store.runs_root.glob("*.safetensors"))) == 2
    assert [p.name for p in store.runs_root.iterdir() if p.name.startswith(".upload-")] == []  # no staging left


def test_racing_uploads_cannot_overfill_the_runs_folder(tmp_path, monkeypatch):
    import io

    import numpy as np

    monkeypatch.setenv("VAE_MAX_RUNS_MB", "1")
    store = RunStore(tmp_path / "runs")

    def npz(i: int) -> bytes:  # ~400 KB each and all different: two fit in 1 MB, three do not
        buf = io.BytesIO()
        np.savez(buf, x=np.full((6200, 8, 8), i, np.uint8))
        return buf.getvalue()

    blobs = [npz(i) for i in range(6)]
    results, errors = _race(6, lambda i: save_dataset_upload(store, f"d{i}.npz", blobs[i]))
    assert len(results) == 2 and len(errors) == 4, (results, errors)
    assert all(isinstance(e, UploadError) and "runs folder would exceed its 1 MB limit" in str(e) for e in errors)
    assert store.folder_bytes() <= 1024**2
