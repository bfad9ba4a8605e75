"""A whole training run: data, model, loop, per-epoch atomic checkpoints and a JSON-lines progress log.

The CLI calls `run_training` directly; the UI starts the CLI in a subprocess and only reads the log,
so a run survives page switches, reloads and crashes of either side.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch

from vae import data as data_mod
from vae import procs
from vae.checkpoint import load_checkpoint, save_checkpoint, update_metadata
from vae.config import ConfigError, DataConfig, ModelConfig, TrainConfig
from vae.errors import VaeError
from vae.model import build_model
from vae import replay as replay_mod
from vae.replay import Recorder
from vae.train import TC_TERMS, Progress, TrainState, choose_device, optimizer_tensors, train

LOG_SUFFIX = ".log.jsonl"
PROGRESS_INTERVAL_S = 2.0  # within long epochs, a progress line at most this often


def log_path_for(checkpoint_path: str | os.PathLike) -> Path:
    p = Path(checkpoint_path)
    return p.with_name(p.name[: -len(p.suffix)] + LOG_SUFFIX if p.suffix else p.name + LOG_SUFFIX)


class RunLog:
    """Append-only JSON lines; each line is complete and flushed, so readers can tail it safely."""

    def __init__(self, path: Path | None):
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")

    def write(self, event: str, **fields) -> None:
        if self.path is None:
            return
        line = json.dumps({"event": event, "time": time.time(), **fields}, default=_json_default)
        with open(self.path, "a") as f:
            f.write(line + "\n")
            f.flush()


def _json_default(o):
    """Paths as strings; floats never get here (json writes them itself, which is why `_finite` exists)."""
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)


def _finite(d: dict) -> dict:
    """NaN/inf become None so every line is strict JSON."""
    def fix(v):
        if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
            return None
        if isinstance(v, dict):
            return {k: fix(x) for k, x in v.items()}
        if isinstance(v, list):
            return [fix(x) for x in v]
        return v
    return fix(d)


class _LogCache:
    """Parsed run logs, read again only from where they grew: the Train page's poller asks for every run's log
    twice a second per visitor, and re-parsing whole logs made each poll linear in all the lines ever written
    (30 runs of a class: ~80 ms a poll). A log is append-only (RunLog); a file that shrank, was replaced, or starts
    with other bytes (a resumed or restarted run rewrote it) is parsed again from the start."""

    HEAD = 128  # bytes compared to tell "the same log, grown" from "another log at the same path"
    MAX_FILES = 512  # a bounded cache: older entries are dropped, first in first out

    def __init__(self):
        self._lock = threading.Lock()
        self._entries: dict[str, tuple] = {}  # path -> (ino, size, mtime_ns, head, consumed bytes, rows)

    def read(self, path: str | os.PathLike) -> list[dict]:
        key = os.fspath(path)
        try:
            with open(key, "rb") as f:
                st = os.fstat(f.fileno())
                with self._lock:
                    old = self._entries.get(key)
                if old is not None and old[:3] == (st.st_ino, st.st_size, st.st_mtime_ns):
                    return list(old[5])
                head = f.read(self.HEAD)
                if old is not None and old[0] == st.st_ino and st.st_size >= old[4] and head.startswith(old[3]):
                    start, rows = old[4], list(old[5])
                else:
                    start, rows = 0, []
                f.seek(start)
                chunk = f.read(max(0, st.st_size - start))
        except FileNotFoundError:
            with self._lock:
                self._entries.pop(key, None)
            return []
        end = chunk.rfind(b"\n") + 1  # a half-written last line waits for its newline
        for line in chunk[:end].splitlines():
            try:
                rows.append(json.loads(line))
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
        with self._lock:
            if key not in self._entries and len(self._entries) >= self.MAX_FILES:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = (st.st_ino, st.st_size, st.st_mtime_ns, head[: min(len(head), start + end)],
                                  start + end, rows)
        return list(rows)


_LOGS = _LogCache()


def read_log(path: str | os.PathLike) -> list[dict]:
    """Every complete line of a run log; a half-written last line is skipped, not an error. Rows are shared with
    later calls: read them, never change them."""
    return _LOGS.read(path)


def run_training(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    data_cfg: DataConfig,
    out_path: str | os.PathLike,
    *,
    resume: str | os.PathLike | None = None,
    stop_event: threading.Event | None = None,
    callback: Callable[[Progress], None] | None = None,
    write_log: bool = True,
    save_optimizer: bool = True,
) -> dict:
    """Train and checkpoint every epoch. Returns a JSON-able summary; also written as the log's last line."""
    out_path = Path(out_path)
    log = RunLog(log_path_for(out_path) if write_log else None)
    t0 = time.perf_counter()
    pid, pid_create = procs.current()  # (pid, create_time): the run store's "is it training?" for CLI runs
    log.write("start", pid=pid, pid_create=pid_create, model=model_cfg.to_dict(), train=train_cfg.to_dict(), data=data_cfg.to_dict(),
              checkpoint=str(out_path))
    try:
        device = choose_device(train_cfg.device)
        split = data_mod.load(data_cfg)
        torch.manual_seed(train_cfg.seed)  # model initialisation is reproducible per seed
        history, optim_state = [], None
        if resume is not None:
            ckpt = load_checkpoint(resume)
            if ckpt.data.get("fingerprint") != split.info["fingerprint"] or ckpt.data.get("shape") != split.info["shape"]:
                raise ConfigError("resume", f"checkpoint was trained on {ckpt.data.get('name')!r}, not {data_cfg.name!r}")
            model, history, optim_state = ckpt.model, ckpt.history, ckpt.optimizer_state
            model_cfg = model.config
        else:
            model_cfg = model_cfg.replace(input_shape=tuple(split.info["shape"]))
            model = build_model(model_cfg)
        model.to(device)
        _remove_stale_temps(out_path)
        train_x, test_x = split.train.x.to(device), split.test.x.to(device)
        recorder = Recorder(test_x, ckpt.replay if resume is not None else None) if len(test_x) else None
        log.write("data", info=split.info, device=str(device))
        last_line = [0.0]
        saved = [False]  # whether this run has written out_path (an older file there is not ours to touch)

        steps_per_epoch = max(1, -(-len(train_x) // train_cfg.batch_size))
        snap = {"at": time.perf_counter(), "epoch_step": 0}  # the replay's last snapshot; steps before this epoch

        def on_progress(p: Progress) -> None:
            now = time.perf_counter()
            if p.kind == "epoch" or now - last_line[0] >= PROGRESS_INTERVAL_S:
                last_line[0] = now
                log.write(p.kind, **_finite(p.to_dict()))
            if p.kind == "epoch":
                snap.update(at=now, epoch_step=p.step)
            elif recorder is not None and now - snap["at"] >= replay_mod.WITHIN_EPOCH_S:  # a long epoch, on its way
                snap["at"] = now
                done = min(p.step - snap["epoch_step"], steps_per_epoch - 1)  # steps into this epoch
                recorder.record(model, p.epoch - 1 + done / steps_per_epoch)
            if callback is not None:
                callback(p)

        def on_epoch_end(state: TrainState) -> None:
            optim = optimizer_tensors(model, state.optimizer) if (save_optimizer and state.optimizer) else None
            extra = {"status": "done" if state.final else "running"}
            if recorder is not None:  # the test subset's means after this epoch (vae/replay.py)
                recorder.record(model, state.epoch)
                extra["replay"] = recorder.summary()
            save_checkpoint(out_path, model, train=train_cfg, data=split.info, history=_finite_list(state.history),
                            optimizer_state=optim, extra=extra,
                            replay=recorder.tensors() if recorder is not None else None)
            saved[0] = True
            log.write("checkpoint", epoch=state.epoch, path=str(out_path))

        result = train(model, train_x, train_cfg, test_x=test_x, callback=on_progress, on_epoch_end=on_epoch_end,
                       stop_event=stop_event, history=history, optimizer_state=optim_state)
        ours = saved[0] or _same_file(resume, out_path)
        if result.status != "done" and ours:
            # the last finished epoch's checkpoint is on disk: keep its weights and Adam state, record why the run ended
            update_metadata(out_path, status=result.status, message=result.message)
        last = result.history[-1] if result.history else {}
        summary = {
            "status": result.status,
            "message": result.message,
            "checkpoint": str(out_path) if ours else None,
            "epochs": len(result.history),
            "final": _finite({**{k: last.get(k) for k in ("recon", "kl", "elbo", "loss", "test")},
                              **{k: last[k] for k in TC_TERMS if k in last}}),  # the KL split of β-TCVAE runs
            "images_per_sec": round(result.images_per_sec, 1),
            "wall_s": round(time.perf_counter() - t0, 3),
            "device": str(device),
            "model": model_cfg.to_dict(),
        }
        log.write("end", **summary)
        return summary
    except VaeError as e:  # a message for the user, as it is
        log.write("end", status="failed", message=str(e))
        raise
    except BaseException as e:
        log.write("end", status="failed", message=f"{type(e).__name__}: {e}")
        raise


def _remove_stale_temps(out_path: Path) -> None:
    """Temp files that a killed earlier run of this checkpoint left behind; this run is now its only writer."""
    for tmp in out_path.parent.glob(f".{out_path.name}.*.tmp"):
        try:
            tmp.unlink()
        except OSError:
            pass


def _same_file(a, b) -> bool:
    try:
        return a is not None and Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def _finite_list(history: list[dict]) -> list[dict]:
    return [_finite(h) for h in history]
