"""The Ray Tune backend of `python -m vae sweep`: one Tune trial per (β, seed), each running `vae.trial.run_trial`.

`ray.init()` with no address starts a local instance, and RAY_ADDRESS (or --ray-address) joins a cluster, as
scvi-tools' autotune does. Trials write their checkpoints straight into the sweep folder, so on a cluster that
folder must be on a file system every node sees (and the project importable on every node at the same path).
Ray is an optional dependency: without it this backend says how to install it and nothing is trained.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import uuid
from collections.abc import Callable

from vae.config import ConfigError
from vae.trial import ROOT, run_trial, trial_record

RESULT_KEY = "record_json"  # the trial's record as one JSON string: Tune flattens nested result dicts
TUNE_DIR = ".tune"  # Tune's own experiment state, inside the sweep folder while it runs


_SINKS: dict[str, Callable[[dict], None]] = {}  # the driver's record functions, by key


def _sink(key: str) -> Callable[[dict], None]:
    from vae.sweep_ray import _SINKS  # looked up by reference: a pickled copy of the callback finds the live one

    return _SINKS[key]


def require_ray():
    """(ray, ray.tune), or ConfigError('backend') with the install command when Ray is missing."""
    try:
        import ray
        from ray import tune
    except ImportError as e:
        raise ConfigError("backend", "--backend ray needs Ray Tune: pip install 'ray[tune]>=2.9' "
                                     f"({type(e).__name__}: {e})") from e
    return ray, tune


def _trainable(config: dict) -> None:
    """Runs inside a Ray worker: the same trial function the local backend's child processes run."""
    from ray import tune

    tune.report({RESULT_KEY: json.dumps(run_trial(config["trial"]))})


def run_ray(plan, todo: list[dict], record: Callable[[dict], None], stop: threading.Event) -> None:
    """Train `todo` as Tune trials, recording each as it completes; trials Tune never finished are recorded too."""
    ray, tune = require_ray()
    threads = plan.train.threads or plan.cpus_per_trial
    todo = [{**t, "spec": {**t["spec"], "train": {**t["spec"]["train"], "threads": threads}}} for t in todo]
    recorded: set[str] = set()

    def sink(rec: dict) -> None:
        if rec["status"] != "running":
            recorded.add(rec["name"])
        record(rec)

    key = uuid.uuid4().hex
    _SINKS[key] = sink

    class Recorder(tune.Callback):
        """Records each trial in sweep.json as Tune reports it (Tune pickles callbacks: it holds only a key)."""

        def on_trial_result(self, iteration, trials, trial, result, **info):
            if RESULT_KEY in result:
                _sink(key)(json.loads(result[RESULT_KEY]))

        def on_trial_start(self, iteration, trials, trial, **info):
            _sink(key)(trial_record(trial.config["trial"], "running"))

    local = not (plan.ray_address or os.environ.get("RAY_ADDRESS"))
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])} if local else {}
    started = not ray.is_initialized()  # a caller's own Ray session (a notebook, a test) is left running
    if started:
        ray.init(address=plan.ray_address, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": env} if env else None)
    resources = {"cpu": plan.cpus_per_trial, **({"gpu": plan.gpus_per_trial} if plan.gpus_per_trial else {})}
    storage = plan.folder / TUNE_DIR
    tuner = tune.Tuner(
        tune.with_resources(_trainable, resources),
        param_space={"trial": tune.grid_search(todo)},
        tune_config=tune.TuneConfig(max_concurrent_trials=plan.max_parallel,
                                    trial_name_creator=lambda t: t.config["trial"]["name"],
                                    trial_dirname_creator=lambda t: t.config["trial"]["name"]),
        run_config=tune.RunConfig(name="tune", storage_path=str(storage), verbose=0, callbacks=[Recorder()]),
    )
    try:
        results = tuner.fit()
        errors = {r.config["trial"]["name"]: r.error for r in results if r.config and r.error is not None}
    finally:
        _SINKS.pop(key, None)
        shutil.rmtree(storage, ignore_errors=True)
        if started:
            ray.shutdown()
    for t in todo:
        if t["name"] not in recorded:
            err = errors.get(t["name"])
            record(trial_record(t, "failed", f"the Ray trial ended without a result: {str(err)[:300]}") if err
                   else trial_record(t, "stopped", "the sweep stopped before this trial finished"))
