"""What the replay and the GIF export cost, on real MNIST (../shared/data/mnist/mnist-test.npz through the project's
.npz loader): one epoch of training against recording the replay after it, and the time and size of each GIF kind.

    python bench/teach_costs.py [--npz PATH] [--epochs N]

Figures, not assertions: the ratio record / epoch is the replay's share of a run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vae import data as D
from vae import gif as G
from vae.codes import code_stats
from vae.config import DataConfig, ModelConfig, TrainConfig
from vae.explore import encode_dataset
from vae.model import build_model
from vae.replay import Recorder, read
from vae.train import train

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--npz", default="/work/shared/data/mnist/mnist-test.npz")
    p.add_argument("--epochs", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(2)
    split = D.load(DataConfig(name=a.npz, test_fraction=0.2))
    cfg = ModelConfig(kind="vae", latent_dim=2, hidden=(400,), input_shape=tuple(split.info["shape"]))
    model = build_model(cfg)
    rec = Recorder(split.test.x)
    record_s: list[float] = []

    def on_epoch_end(state) -> None:
        t = time.perf_counter()
        rec.record(model, state.epoch)
        record_s.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    train(model, split.train.x, TrainConfig(epochs=a.epochs, batch_size=128, threads=2), on_epoch_end=on_epoch_end)
    total = time.perf_counter() - t0
    epoch = (total - sum(record_s)) / a.epochs
    rec_mean = float(np.mean(record_s))
    s = rec.summary()
    print(f"MNIST {len(split.train)} train / {len(split.test)} test, 784-400-2 MLP VAE, {a.epochs} epochs, 2 threads")
    print(f"epoch {epoch:.2f} s · replay record {1000 * rec_mean:.1f} ms ({s['points']} points) · "
          f"ratio {rec_mean / epoch:.4f} · replay {s['bytes'] / 1024:.1f} KB for {len(s['epochs'])} epochs")
    mu, logvar = encode_dataset(model, split.test.x)
    stats = code_stats(mu, logvar, True)
    cases = {"traversal": lambda: G.traversal(model, stats, stats["centre"], [0, 1], 30),
             "interpolation (slerp)": lambda: G.interpolation(model, mu[0], mu[1], 30, "slerp"),
             "replay": None}
    for name, path in cases.items():
        t = time.perf_counter()
        data = (G.replay_gif(read(rec.tensors()), split.test.y.numpy(), 30) if path is None
                else G.make_gif(model, *path()))
        print(f"GIF {name}: 30 frames, {(time.perf_counter() - t) * 1000:.0f} ms, {len(data) / 1024:.0f} KB")


if __name__ == "__main__":
    main()
