"""Command line: `python -m vae train|sweep|evaluate|info|gif|import-onnx`. argparse becomes dataclasses here and
nowhere else; the parser itself is vae/cli.py."""

from __future__ import annotations

import argparse
import json
import signal
import os
import sys
import threading
from pathlib import Path

from vae.cli import build_parser
from vae.config import ConfigError, DataConfig, ModelConfig, TrainConfig


MODEL_FLAGS = ("kind", "arch", "latent_dim", "hidden", "channels", "likelihood", "sigma", "learn_sigma")


def _explicit(argv: list[str]) -> set[str]:
    """The `train` options given on the command line (not left at their defaults)."""
    p = build_parser()
    unset = object()
    p.train_parser.set_defaults(**{a.dest: unset for a in p.train_parser._actions if a.dest != "help"})
    ns = p.parse_args(argv)
    return {k for k, v in vars(ns).items() if v is not unset}


def _configs(a: argparse.Namespace) -> tuple[ModelConfig, TrainConfig, DataConfig]:
    model = ModelConfig(kind=a.kind, arch=a.arch, latent_dim=a.latent_dim, hidden=a.hidden, channels=a.channels,
                        likelihood=a.likelihood, sigma=a.sigma, learn_sigma=a.learn_sigma)
    train = TrainConfig(epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, beta=a.beta, objective=a.objective,
                        warmup_epochs=a.warmup_epochs, capacity=a.capacity, capacity_epochs=a.capacity_epochs,
                        seed=a.seed, device=a.device, threads=a.threads, log_every=a.log_every, grad_clip=a.grad_clip)
    data = DataConfig(name=a.data, data_dir=a.data_dir, test_fraction=a.test_fraction, split_seed=a.split_seed,
                      split=a.split, limit=a.limit, download=not a.no_download)
    return model, train, data


def _out_path(a: argparse.Namespace, model: ModelConfig, train: TrainConfig) -> Path:
    from vae.checkpoint import SUFFIX, run_path

    if a.out:
        out = Path(a.out)
        if out.suffix != SUFFIX:
            raise ConfigError("out", f"must end in {SUFFIX}")
        return out
    kind = "tcvae" if train.objective == "beta-tcvae" else model.kind
    name = a.name or f"{Path(a.data).stem}-{kind}-z{model.latent_dim}-b{train.beta:g}-s{train.seed}"
    return run_path(Path("checkpoints") / "runs", name)


def _check_resume(a: argparse.Namespace, argv: list[str], train: TrainConfig) -> None:
    """--resume continues the checkpoint's own model: contradicting architecture flags and a target epoch count
    the checkpoint has already reached are errors, not silently ignored."""
    from vae.checkpoint import read_metadata

    meta = read_metadata(a.resume)
    stored = ModelConfig.from_dict(meta["model"])
    given = _explicit(argv)
    asked = ModelConfig.from_dict({**stored.to_dict(), **{k: getattr(a, k) for k in MODEL_FLAGS if k in given}})
    for k in MODEL_FLAGS:
        if k in given and getattr(asked, k) != getattr(stored, k):
            raise ConfigError(k, f"--resume continues the checkpoint's model, which has {k}={getattr(stored, k)!r}; "
                                 f"drop the flag (asked for {getattr(asked, k)!r})")
    done = len(meta.get("history") or [])
    if train.epochs <= done:
        raise ConfigError("epochs", f"the checkpoint already has {done} epochs; --epochs is the total to reach, so "
                                    f"ask for more than {done} to continue it")


def cmd_train(a: argparse.Namespace, argv: list[str]) -> int:
    if a.spec:
        from vae.spec import read_job_spec  # imports torch (through vae.checkpoint): only when it is needed

        model, train, data, out = read_job_spec(a.spec)
    else:
        model, train, data = _configs(a)  # before the heavy imports, so a bad argument fails in a blink
        out = _out_path(a, model, train)
    from vae.spec import check_out

    check_out(out, a.resume)
    if a.resume:
        _check_resume(a, argv, train)
    from vae.procs import stop_signals
    from vae.run import run_training

    stop = threading.Event()
    for sig in stop_signals():  # stop between steps and keep the last good checkpoint
        signal.signal(sig, lambda *_: stop.set())
    bar = None

    def progress(p) -> None:
        nonlocal bar
        if a.no_progress:
            return
        if bar is None:  # created on first report, so argument errors print no empty bar
            from tqdm import tqdm

            bar = tqdm(total=p.total_steps, unit="step", file=sys.stderr, dynamic_ncols=True)
        bar.total = p.total_steps
        bar.n = p.step
        bar.set_postfix_str(f"epoch {p.epoch}/{p.epochs} recon {p.recon:.2f} kl {p.kl:.2f} elbo {p.elbo:.2f}")
        bar.refresh()

    try:
        summary = run_training(model, train, data, out, resume=a.resume, stop_event=stop, callback=progress,
                               save_optimizer=not a.no_optimizer_state)
    finally:
        if bar is not None:
            bar.close()
    print(json.dumps(summary, indent=2))
    return {"done": 0, "stopped": 130, "diverged": 3}.get(summary["status"], 1)


def cmd_sweep(a: argparse.Namespace) -> int:
    from vae.sweep import RAY_ONLY, make_plan, run_sweep

    model, train, data = _configs(a)
    if a.max_parallel is None:
        a.max_parallel = 1 if a.backend == "local" else None
    ray_only = {k: getattr(a, k) for k in RAY_ONLY if getattr(a, k) is not None}  # the flags given
    plan = make_plan(a.out, a.betas, a.seeds, model, train, data, backend=a.backend, max_parallel=a.max_parallel,
                     **ray_only)
    if plan.backend == "ray":
        from vae.sweep_ray import require_ray

        require_ray()  # before any trial: a missing extra is a bad flag, not a failed grid
    from vae.procs import stop_signals

    stop = threading.Event()
    if plan.backend == "local":  # Ray Tune handles Ctrl-C itself
        for sig in stop_signals():
            signal.signal(sig, lambda *_: stop.set())

    def show(rec: dict) -> None:
        if rec["status"] in ("done", "failed", "stopped"):
            elbo = (rec.get("final") or {}).get("elbo")
            extra = f", ELBO {elbo:.2f}" if elbo is not None else ""
            print(f"{rec['name']}: {rec['status']}{extra} {rec['message']}".rstrip(), file=sys.stderr)

    info = run_sweep(plan, stop=stop, on_record=show)
    states = [t["status"] for t in info["trials"]]
    print(json.dumps({"sweep": str(plan.folder), **{s: states.count(s) for s in ("done", "failed", "stopped")}}))
    if all(s == "done" for s in states):
        return 0
    return 130 if (stop.is_set() or "stopped" in states) and "failed" not in states else 1


def cmd_evaluate(a: argparse.Namespace) -> int:
    from vae import data as data_mod
    from vae.checkpoint import load_checkpoint
    from vae.metrics import evaluate
    from vae.mig import mig_report
    from vae.tc import dataset_kl_decomposition

    if a.iwae_k < 0:
        raise ConfigError("iwae_k", "must be >= 0")
    ckpt = load_checkpoint(a.checkpoint)
    overrides = {"data_dir": a.data_dir, **({"name": a.data} if a.data else {})}
    split = data_mod.load(data_mod.config_from_info(ckpt.data, **overrides))
    if list(split.test.shape) != list(ckpt.model_config.input_shape):
        raise ConfigError("data", f"images are {split.test.shape}, the model expects {ckpt.model_config.input_shape}")
    result = evaluate(ckpt.model, split.test.x, iwae_k=a.iwae_k, seed=a.seed)
    split_kl = dataset_kl_decomposition(ckpt.model, split.test.x, seed=a.seed)  # None for AE / PCA
    if split_kl is not None:  # the test set's KL as index-code MI + total correlation + dimension-wise KL
        result.update({k: split_kl[k] for k in ("mi", "tc", "dwkl")})
    result.update(mig_report(ckpt.model, split, seed=a.seed))  # both MIG estimators, for data with known factors
    if a.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>13}: {v if v is None or isinstance(v, int) else f'{v:.3f}'}")
    return 0


def cmd_info(a: argparse.Namespace) -> int:
    from vae.checkpoint import read_metadata

    print(json.dumps(read_metadata(a.checkpoint), indent=2))
    return 0


def cmd_gif(a: argparse.Namespace) -> int:
    out = Path(a.out)
    if out.suffix.lower() != ".gif":
        raise ConfigError("out", "must end in .gif")
    if out.is_dir() or (out.exists() and out.read_bytes()[:4] != b"GIF8"):
        raise ConfigError("out", f"{out} exists and is not a GIF; refusing to overwrite it")
    if (a.from_row is None) != (a.to_row is None):
        raise ConfigError("from", "give both --from and --to, or neither")
    from vae import data as data_mod
    from vae.checkpoint import CheckpointError, atomic_write_bytes, load_checkpoint
    from vae.gif import checkpoint_gif
    from vae.replay import ReplayError
    from vae.replay import read as read_replay

    ckpt = load_checkpoint(a.checkpoint)
    test = data_mod.load(data_mod.config_from_info(ckpt.data, data_dir=a.data_dir)).test
    ends = None if a.from_row is None else (a.from_row, a.to_row)
    try:
        replay = read_replay(ckpt.replay, len(test)) if a.kind == "replay" else None
    except ReplayError as e:
        raise CheckpointError(f"{Path(a.checkpoint).name}: {e}") from e
    data = checkpoint_gif(ckpt.model, test.x, test.y.numpy(), kind=a.kind, frames=a.frames, dims=a.dims,
                          start=a.start, ends=ends, replay=replay, method=a.method, grid=a.grid, scale=a.scale,
                          fps=a.fps)
    atomic_write_bytes(out, data)
    print(json.dumps({"out": str(out), "kind": a.kind, "frames": a.frames, "bytes": len(data)}))
    return 0


def cmd_import_onnx(a: argparse.Namespace) -> int:
    import time

    from vae.onnx_import import ImportOptions

    data = DataConfig(name=a.data, data_dir=a.data_dir, test_fraction=a.test_fraction, split_seed=a.split_seed,
                      split=a.split)
    opts = ImportOptions(data=data, likelihood=a.likelihood, decoder_output=a.decoder_output,
                         split_output=a.split_output, sigma=a.sigma, name=a.name)  # before the heavy imports
    if a.out:
        from vae.spec import check_out

        check_out(Path(a.out), None)
    from vae.checkpoint import read_metadata
    from vae.onnx_import import import_onnx

    t0 = time.perf_counter()
    out = import_onnx(a.encoder, a.decoder, **vars(opts), out=a.out)
    meta = read_metadata(out)
    prog = meta["program"]
    print(json.dumps({"checkpoint": str(out), "kind": meta["model"]["kind"], "latent_dim": meta["model"]["latent_dim"],
                      "decoder_output": prog["decoder_output"], "encoder_ops": len(prog["encoder"]["ops"]),
                      "decoder_ops": len(prog["decoder"]["ops"]), "test": meta["history"][-1]["test"],
                      "bytes": out.stat().st_size, "wall_s": round(time.perf_counter() - t0, 3)}, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            return cmd_train(args, argv)
        commands = {"evaluate": cmd_evaluate, "info": cmd_info, "sweep": cmd_sweep, "gif": cmd_gif,
                    "import-onnx": cmd_import_onnx}
        return commands[args.command](args)
    except ConfigError as e:  # a bad argument: exit 2, like argparse's own errors
        print(f"error: invalid {e.field}: {e.message}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `vae info ... | head`: the reader has what it wanted; say nothing, as cat would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # else the flush at exit complains again
        return 0
    except OSError as e:  # the machine, not the input: a full disk, a folder that became unwritable
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"error: cannot write or read {where}{e.strerror or e}", file=sys.stderr)
        return 1
    except Exception as e:
        # imported only here (already loaded by whatever raised), so argument errors never wait for torch
        from vae.checkpoint import CheckpointError
        from vae.data import DataError, UnknownDatasetError
        from vae.onnx_safe import OnnxError

        if isinstance(e, UnknownDatasetError):
            print(f"error: invalid {e.field}: {e}", file=sys.stderr)
            return 2
        if isinstance(e, (CheckpointError, DataError, OnnxError)):
            print(f"error: {e}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
