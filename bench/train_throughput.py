"""Training throughput: the project's loop vs a tutorial-style DataLoader loop vs the machine's GEMM ceiling.

Same data (real MNIST when /work/shared/data/mnist/mnist-test.npz exists, else random uint8 of MNIST shape),
same architecture (MLP 784-400-20), same optimizer (Adam, lr 1e-3). Prints images/s and the ratios.

    python bench/train_throughput.py                 # batch 128 and 512, 2 threads
    python bench/train_throughput.py --threads 1 --batches 512 --epochs 3
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vae.config import ModelConfig, TrainConfig
from vae.model import build_model
from vae.train import train

MNIST = Path("/work/shared/data/mnist/mnist-test.npz")
HIDDEN, LATENT, PIXELS = 400, 20, 784


def load_images() -> tuple[np.ndarray, str]:
    if MNIST.exists():
        with np.load(MNIST) as f:
            return f["x"], "MNIST test set"
    return np.random.default_rng(0).integers(0, 256, (10_000, 28, 28), dtype=np.uint8), "random uint8"


# ---- the reference: the common tutorial style (per-item transform, DataLoader, .item() every step) ----

class TutorialDataset(torch.utils.data.Dataset):
    def __init__(self, images: np.ndarray):
        from torchvision import transforms

        self.images = images
        self.transform = transforms.ToTensor()  # uint8 H×W -> float (1, H, W) in [0, 1], one image at a time

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), 0


class TutorialVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(PIXELS, HIDDEN)
        self.fc21 = nn.Linear(HIDDEN, LATENT)
        self.fc22 = nn.Linear(HIDDEN, LATENT)
        self.fc3 = nn.Linear(LATENT, HIDDEN)
        self.fc4 = nn.Linear(HIDDEN, PIXELS)

    def forward(self, x):
        h = F.relu(self.fc1(x.view(-1, PIXELS)))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar


def reference_loop(images: np.ndarray, batch: int, epochs: int) -> float:
    """Best epoch's images/s (the machine is shared, so the best of a few epochs is the least disturbed)."""
    torch.manual_seed(0)
    model = TutorialVAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(TutorialDataset(images), batch_size=batch, shuffle=True)
    rates = []
    for _ in range(epochs):
        n, t0 = 0, time.perf_counter()
        total = 0.0
        for x, _ in loader:
            opt.zero_grad()
            x_hat, mu, logvar = model(x)
            bce = F.binary_cross_entropy(x_hat, x.view(-1, PIXELS), reduction="sum")
            kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            loss = bce + kld
            loss.backward()
            total += loss.item()
            opt.step()
            n += x.shape[0]
        rates.append(n / (time.perf_counter() - t0))
    return max(rates)


# ---- the project's loop ----

def project_loop(images: np.ndarray, batch: int, epochs: int, threads: int) -> float:
    x = torch.from_numpy(images).to(torch.float32).unsqueeze(1) / 255.0  # (N, 1, 28, 28), as vae.data does
    torch.manual_seed(0)
    model = build_model(ModelConfig(input_shape=(1, 28, 28), hidden=(HIDDEN,), latent_dim=LATENT))
    rates = [train(model, x, TrainConfig(epochs=1, batch_size=batch, threads=threads)).images_per_sec
             for _ in range(epochs)]  # one epoch per call, best of them, as for the reference
    return max(rates)


# ---- the ceiling: only the GEMMs of forward and backward ----

def gemm_ceiling(batch: int, seconds: float = 2.0) -> float:
    """images/s if a step cost nothing but its matmuls: per Linear, x@W (forward), g@W (grad_x), g^T@x (grad_W)."""
    layers = [(PIXELS, HIDDEN), (HIDDEN, LATENT), (HIDDEN, LATENT), (LATENT, HIDDEN), (HIDDEN, PIXELS)]
    ops = []
    for n_in, n_out in layers:
        x, w, g = torch.rand(batch, n_in), torch.rand(n_in, n_out), torch.rand(batch, n_out)
        ops += [(x, w, torch.empty(batch, n_out)), (g, w.T, torch.empty(batch, n_in)), (g.T, x, torch.empty(n_out, n_in))]
    first_layer_no_grad_x = 1  # the input needs no gradient
    ops.pop(first_layer_no_grad_x)
    for a, b, out in ops:
        torch.mm(a, b, out=out)
    rates, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds:  # best of many short chunks: the machine is shared
        t0 = time.perf_counter()
        for _ in range(5):
            for a, b, out in ops:
                torch.mm(a, b, out=out)
        rates.append(5 * batch / (time.perf_counter() - t0))
    return max(rates)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, nargs="+", default=[128, 512])
    p.add_argument("--epochs", type=int, default=3, help="epochs over the 10,000 images; the best one counts")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--skip-reference", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    images, source = load_images()
    print(f"data: {source}, {images.shape}; torch {torch.__version__}; threads {a.threads}; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    project_loop(images[:1024], 128, 1, a.threads)  # warm-up: first Adam imports torch._dynamo, first GEMMs pack
    for batch in a.batches:
        ceiling = gemm_ceiling(batch)
        ours = project_loop(images, batch, a.epochs, a.threads)
        line = f"batch {batch:4d}: project {ours:9.0f} img/s | GEMM ceiling {ceiling:9.0f} img/s ({ours / ceiling:5.1%})"
        if not a.skip_reference:
            torch.set_num_threads(a.threads)
            ref = reference_loop(images, batch, a.epochs)
            line += f" | tutorial loop {ref:9.0f} img/s (project is {ours / ref:4.2f}x)"
        print(line, flush=True)


if __name__ == "__main__":
    main()
