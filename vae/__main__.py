"""Command line: `python -m vae train|sweep|evaluate|info|gif|import-onnx`. argparse becomes dataclasses here and
nowhere else."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from vae.config import BUILTIN_DATASETS, ConfigError, DataConfig, ModelConfig, TrainConfig


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _optional_float(text: str) -> float | None:
    return None if text.lower() in ("none", "") else float(text)


def _add_config_flags(t: argparse.ArgumentParser, grid: bool = False) -> None:
    """The model, training and data flags, shared by `train` and `sweep`."""
    m, tr, d = ModelConfig(), TrainConfig(), DataConfig()
    t.add_argument("--data", default=d.name, help=" | ".join([*BUILTIN_DATASETS, "path.npz", "image folder"]))
    t.add_argument("--data-dir", default=None, help="where torchvision datasets are stored (default: user cache)")
    t.add_argument("--no-download", action="store_true", help="never download; fail if files are missing")
    t.add_argument("--test-fraction", type=float, default=d.test_fraction)
    t.add_argument("--split-seed", type=int, default=d.split_seed)
    t.add_argument("--split", default=d.split, help="random (seeded) | tail (last --test-fraction of items is the test set)")
    t.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    t.add_argument("--model", dest="kind", default=m.kind, help="vae | ae | pca")
    t.add_argument("--arch", default=m.arch, help="mlp | conv")
    t.add_argument("--latent-dim", type=int, default=m.latent_dim)
    t.add_argument("--hidden", type=_ints, default=m.hidden, help="MLP widths, e.g. 256,128")
    t.add_argument("--channels", type=_ints, default=m.channels, help="conv channels, e.g. 32,64")
    t.add_argument("--likelihood", default=m.likelihood, help="bernoulli | gaussian")
    t.add_argument("--sigma", type=float, default=m.sigma, help="Gaussian likelihood scale")
    t.add_argument("--learn-sigma", action="store_true")
    t.add_argument("--epochs", type=int, default=tr.epochs)
    t.add_argument("--batch-size", type=int, default=tr.batch_size)
    t.add_argument("--lr", type=float, default=tr.lr)
    if not grid:  # a sweep sets β and seed per trial from --betas and --seeds
        t.add_argument("--beta", type=float, default=tr.beta)
        t.add_argument("--seed", type=int, default=tr.seed)
    t.add_argument("--objective", default=tr.objective,
                   help="elbo | beta-tcvae (β weights only the total-correlation part of the KL; Chen et al., 2018)")
    t.add_argument("--warmup-epochs", type=float, default=tr.warmup_epochs)
    t.add_argument("--capacity", type=_optional_float, default=tr.capacity, help="KL capacity C in nats")
    t.add_argument("--capacity-epochs", type=float, default=tr.capacity_epochs)
    t.add_argument("--device", default=tr.device, help="auto | cpu | cuda | mps")
    t.add_argument("--threads", type=int, default=tr.threads)
    t.add_argument("--log-every", type=int, default=tr.log_every)
    t.add_argument("--grad-clip", type=_optional_float, default=tr.grad_clip)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m vae", description="Train, evaluate and inspect VAE checkpoints.")
    sub = p.add_subparsers(dest="command", required=True)

    m, d = ModelConfig(), DataConfig()
    t = sub.add_parser("train", help="train a model and write a .safetensors checkpoint")
    _add_config_flags(t)
    t.add_argument("--out", default=None, help="checkpoint path (default: checkpoints/runs/<name>.safetensors)")
    t.add_argument("--name", default=None, help="run name, used when --out is not given")
    t.add_argument("--resume", default=None, help="continue from this checkpoint up to --epochs")
    t.add_argument("--spec", default=None, help="a JSON job spec (model, train, data configs and the checkpoint "
                   "path), as the app writes for background runs; it replaces the config flags and --out")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--no-optimizer-state", action="store_true",
                   help="leave Adam's moments out of the checkpoint (a third of the size; resume restarts Adam)")

    e = sub.add_parser("evaluate", help="evaluate a checkpoint on its test split")
    e.add_argument("checkpoint")
    e.add_argument("--data", default=None, help="dataset (default: the checkpoint's own)")
    e.add_argument("--data-dir", default=None)
    e.add_argument("--iwae-k", type=int, default=100)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--json", action="store_true", help="print JSON only")

    w = sub.add_parser("sweep", help="train a β × seed grid into one sweep folder (resumable; local or Ray Tune)")
    _add_config_flags(w, grid=True)
    w.set_defaults(beta=TrainConfig().beta, seed=TrainConfig().seed)
    w.add_argument("--betas", type=_floats, required=True, help="β values, e.g. 1,2,4,8")
    w.add_argument("--seeds", type=_ints, default=(0,), help="seeds, e.g. 0,1,2 (default 0)")
    w.add_argument("--out", required=True, help="the sweep folder, e.g. checkpoints/runs/sweeps/NAME; "
                   "run the same command again to finish the trials that are not done")
    w.add_argument("--backend", default="local", help="local (child processes) | ray (Ray Tune)")
    w.add_argument("--max-parallel", type=int, default=None,
                   help="trials at once (local default 1; ray default: as many as the resources allow)")
    w.add_argument("--cpus-per-trial", type=int, default=None, help="ray: CPUs reserved per trial (its torch threads; default 1)")
    w.add_argument("--gpus-per-trial", type=float, default=None, help="ray: GPUs per trial; 0.5 packs two on one (default 0)")
    w.add_argument("--ray-address", default=None, help="ray: a cluster to join (default: RAY_ADDRESS, else local)")

    i = sub.add_parser("info", help="print a checkpoint's metadata as JSON")
    i.add_argument("checkpoint")

    g = sub.add_parser("gif", help="an animated GIF of a traversal, an interpolation, a manifold-grid sweep "
                       "or the training replay")
    g.add_argument("checkpoint")
    g.add_argument("--kind", required=True, help="traversal | interpolation | grid | replay")
    g.add_argument("--dims", type=_ints, default=None, help="traversal: the dims to sweep (default: the 8 most "
                   "used); grid: two grid dims then the dim to sweep, e.g. 0,1,2; replay: the two dims shown")
    g.add_argument("--frames", type=int, default=30)
    g.add_argument("--start", type=int, default=None, help="traversal: start at this test row's μ (default: the "
                   "centre)")
    g.add_argument("--from", dest="from_row", type=int, default=None, help="interpolation: first end, a test row")
    g.add_argument("--to", dest="to_row", type=int, default=None, help="interpolation: last end, a test row")
    g.add_argument("--method", default="linear", help="interpolation: linear | slerp")
    g.add_argument("--grid", type=int, default=10, help="grid: decodes per side")
    g.add_argument("--scale", type=int, default=None, help="integer upscaling (default: tiles of about 64 px)")
    g.add_argument("--fps", type=float, default=10.0)
    g.add_argument("--data-dir", default=None)
    g.add_argument("--out", required=True, help="the .gif to write")

    o = sub.add_parser("import-onnx", help="import an encoder and a decoder exported to ONNX as a checkpoint")
    o.add_argument("--encoder", required=True, help="ENC.onnx: images (B, C, H, W) or (B, C*H*W) in [0, 1] -> "
                   "mu, logvar (B, D) each; or mu ‖ logvar (B, 2D) with --split-output; or one code (B, D): an AE")
    o.add_argument("--decoder", required=True, help="DEC.onnx: codes (B, D) -> images, flat or (B, C, H, W)")
    o.add_argument("--data", default=d.name, help="the dataset the model belongs to (as for train)")
    o.add_argument("--data-dir", default=None)
    o.add_argument("--test-fraction", type=float, default=d.test_fraction)
    o.add_argument("--split-seed", type=int, default=d.split_seed)
    o.add_argument("--split", default=d.split, help="random (seeded) | tail")
    o.add_argument("--likelihood", default=m.likelihood, help="bernoulli | gaussian")
    o.add_argument("--decoder-output", default=None, help="logits | probs | mean: what the decoder outputs "
                   "(default: probs after a final sigmoid, else logits for bernoulli, mean for gaussian)")
    o.add_argument("--split-output", action="store_true", help="the encoder's one output is mu ‖ logvar")
    o.add_argument("--sigma", type=float, default=m.sigma, help="Gaussian likelihood scale")
    o.add_argument("--name", default=None, help="run name, used when --out is not given")
    o.add_argument("--out", default=None, help="checkpoint path (default: checkpoints/runs/<name>.safetensors)")
    p.train_parser = t  # for _explicit: which train flags were given on the command line
    return p


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
