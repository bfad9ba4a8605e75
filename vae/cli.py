"""The command line's parser: every subcommand's flags, with defaults read from the config dataclasses (one owner
each), so `--help` always shows what a run would use. vae/__main__.py turns what it parses into dataclasses."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vae.config import BUILTIN_DATASETS, DataConfig, ModelConfig, TrainConfig


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
    # the `vae` console script names itself; `python -m vae` would otherwise read as "__main__.py"
    prog = "vae" if Path(sys.argv[0]).name == "vae" else "python -m vae"
    p = argparse.ArgumentParser(prog=prog, description="Train, evaluate and inspect VAE checkpoints.")
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
