"""A warm worker: one process with torch and the training code already imported, forking one child per job.

Starting `python -m vae train` costs ~2 s of imports (torch) before the first step; a short digits run trains in
about that long, so a cold start hid most of it. The worker pays the imports once, when the job manager starts,
and each job is a `fork()` of it: the child is its own process (own session, lower priority, own stderr file),
runs exactly `vae.__main__.main(["train", ...])`, the code a plain subprocess runs, and exits. Everything the job
manager relies on holds as before: the child is named by (pid, create_time), SIGTERM asks it to stop between steps,
a crash ends the child only, and the child outlives the worker and the server (reloads change nothing).

Linux only (fork after importing torch is safe only while no torch thread pool has started, which this process
never does: it runs no tensor op). Elsewhere, or with VAE_WARM_WORKER=0, jobs start as plain subprocesses.

Protocol on the worker's stdin/stdout, one JSON object per line: the worker says {"ready": true} once imported;
then each request {"argv": [...], "cwd": ..., "stderr": ..., "env": {...}} is answered {"pid": N} or {"error": "..."}.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading

from vae import procs

READY_TIMEOUT_S = 60.0  # a worker that has not imported torch by then is given up (jobs start cold instead)
REPLY_TIMEOUT_S = 10.0
STARTUP_WAIT_S = 5.0  # a job submitted while the worker still imports waits this long for it, then starts cold


def enabled() -> bool:
    """Whether jobs should go through a warm worker here: Linux with fork, unless VAE_WARM_WORKER=0."""
    return sys.platform.startswith("linux") and hasattr(os, "fork") and os.environ.get("VAE_WARM_WORKER", "1") != "0"


# ---- the worker process -------------------------------------------------------------------------------------------


def _warm_up() -> None:
    """Import what a training run imports, so that a forked child starts at its first line of real work."""
    import numpy  # noqa: F401
    import torch
    import torch._dynamo  # the optimizer's first step imports it lazily: ~2 s inside epoch 1
    import torch.optim  # noqa: F401 (the names bound by this chain go unused on purpose)

    import vae.__main__
    import vae.checkpoint
    import vae.data
    import vae.model
    import vae.run
    import vae.spec
    import vae.train  # noqa: F401


def _child(req: dict) -> None:
    """In the forked child: become an independent, lower-priority process and run the CLI. Never returns."""
    code = 1
    try:
        os.setsid()  # Ctrl-C in the server's terminal, or the worker ending, must not stop the run
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        os.chdir(req["cwd"])
        devnull = os.open(os.devnull, os.O_RDWR)
        err = os.open(req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(err, 2)
        os.close(devnull)
        os.close(err)
        sys.stdin = open(os.devnull)  # noqa: SIM115 - the child's own streams, open until it exits
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        sys.stderr = os.fdopen(2, "w", buffering=1)
        os.environ.clear()
        os.environ.update(req.get("env") or {})
        argv = list(req["argv"])
        # argv as for a subprocess: [python, "-m", "vae", "train", ...]; the CLI takes what follows "vae"
        args = argv[argv.index("vae") + 1:] if "vae" in argv else argv
        from vae.__main__ import main

        code = main(args)
    except SystemExit as e:  # argparse errors and explicit exits
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:  # a crash ends this child with a traceback in its stderr file, nothing more
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code if isinstance(code, int) else 1)


def _reap() -> None:
    """Collect finished children so none lingers as a zombie (their status lives in their log, not here)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def serve(inp=None, out=None) -> None:
    """The worker's loop: read a request per line, fork a child per request, answer its pid; exit at EOF."""
    inp, out = inp or sys.stdin, out or sys.stdout
    _warm_up()
    out.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    out.flush()
    fd = inp.fileno()
    buf = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 1.0)
        _reap()
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:  # the server closed our stdin (it ended): running children carry on without us
            return
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            try:
                req = json.loads(line)
                if not isinstance(req, dict) or not isinstance(req.get("argv"), list):
                    raise ValueError("a request is an object with an 'argv' list")
                out.flush()
                pid = os.fork()
                if pid == 0:
                    _child(req)
                procs.lower_priority(pid)  # before the pid is reported: whoever reads it sees the final priority
                reply = {"pid": pid}
            except Exception as e:  # a bad request is answered, the worker goes on
                reply = {"error": f"{type(e).__name__}: {e}"}
            out.write(json.dumps(reply) + "\n")
            out.flush()


# ---- the client, in the server ------------------------------------------------------------------------------------


class WarmWorker:
    """The server's handle on one worker process; thread-safe. `launch` returns a pid, or None to fall back."""

    def __init__(self, python: str = sys.executable, cwd: str | os.PathLike | None = None):
        self.python = python
        self.cwd = str(cwd) if cwd else None
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._ready = threading.Event()
        self._failed = False

    def start(self) -> None:
        """Start the worker in the background (it imports torch meanwhile); a no-op if it runs."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return
            self._ready.clear()
            self._failed = False
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            kwargs = {"start_new_session": True}  # the worker too ignores the terminal's Ctrl-C
            self._proc = subprocess.Popen([self.python, "-m", "vae.worker"], cwd=self.cwd, env=env,
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                          **kwargs)
            threading.Thread(target=self._await_ready, args=(self._proc,), name="vae-worker-ready",
                             daemon=True).start()

    def _await_ready(self, proc: subprocess.Popen) -> None:
        line = proc.stdout.readline()
        try:
            ok = bool(json.loads(line).get("ready"))
        except (ValueError, AttributeError):
            ok = False
        if ok:
            self._ready.set()
        else:
            self._failed = True
            self._ready.set()

    def ready(self, timeout: float = 0.0) -> bool:
        return self._ready.wait(timeout) and not self._failed and self._proc is not None and self._proc.poll() is None

    def launch(self, argv: list[str], *, cwd: str | os.PathLike, stderr_path: str | os.PathLike,
               env: dict[str, str], wait: float = 0.0) -> tuple[int, float] | None:
        """Fork a child of the worker that runs `argv`: its (pid, create_time), or None when the worker cannot (the
        caller starts the job cold). Waits up to `wait` s for a worker still importing."""
        self.start()
        if not self.ready(wait):
            return None
        req = {"argv": list(argv), "cwd": str(cwd), "stderr": str(stderr_path), "env": dict(env)}
        with self._lock:
            proc = self._proc
            try:
                proc.stdin.write((json.dumps(req) + "\n").encode())
                proc.stdin.flush()
                ready, _, _ = select.select([proc.stdout], [], [], REPLY_TIMEOUT_S)
                reply = json.loads(proc.stdout.readline()) if ready else {}
            except (OSError, ValueError):
                reply = {}
        pid = reply.get("pid")
        if not isinstance(pid, int) or pid <= 0:
            # killed, not closed: a slow worker could still read this request and fork the job after the caller has
            # started it cold (two trainers on one checkpoint); it is replaced on the next launch
            self.kill()
            return None
        import psutil

        try:
            return pid, psutil.Process(pid).create_time()
        except psutil.NoSuchProcess:  # it ended already (e.g. a bad spec): nothing left to probe
            return pid, 0.0

    def kill(self) -> None:
        """End the worker at once (SIGKILL), so it forks nothing more; the jobs it forked keep running."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait(5)

    def close(self) -> None:
        """End the worker (closing its stdin); the jobs it forked keep running."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


if __name__ == "__main__":
    serve()
