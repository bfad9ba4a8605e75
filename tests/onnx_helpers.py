"""Researchers' VAEs unlike ours, written in plain PyTorch and exported with torch.onnx.export; and the reference
each import is held to: onnxruntime on the original files. Shared by the import, page and browser tests and bench/.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from vae.program import PROBS_EPS


def export(module: nn.Module, example: torch.Tensor, outputs: list[str], dynamic: bool = True) -> bytes:
    """The ONNX bytes of a module in eval mode (the TorchScript exporter: it needs only the onnx package)."""
    module.eval()
    f = io.BytesIO()
    name = "x" if example.dim() == 4 else "z"  # images in, or codes in
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example, f, dynamo=False, input_names=[name], output_names=outputs,
                          dynamic_axes={name: {0: "batch"}} if dynamic else None)
    return f.getvalue()


def _randomise_bn(module: nn.Module) -> nn.Module:
    """BatchNorm statistics far from the identity, so a wrong fold cannot pass."""
    g = torch.Generator().manual_seed(1)
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) * 2 - 1)
            m.running_var.copy_(torch.rand(n, generator=g) * 2 + 0.3)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) - 0.5)
    return module


class OddMLPEncoder(nn.Module):
    """Three hidden layers of odd widths with LeakyReLU, two heads."""

    def __init__(self, d: int = 3):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 37), nn.LeakyReLU(0.1), nn.Linear(37, 23),
                                  nn.LeakyReLU(0.1), nn.Linear(23, 11), nn.LeakyReLU(0.1))
        self.mu, self.logvar = nn.Linear(11, d), nn.Linear(11, d)

    def forward(self, x):
        h = self.body(x)
        return self.mu(h), self.logvar(h)


class OddMLPDecoder(nn.Module):
    def __init__(self, d: int = 3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, 11), nn.LeakyReLU(0.1), nn.Linear(11, 23), nn.LeakyReLU(0.1),
                                 nn.Linear(23, 37), nn.LeakyReLU(0.1), nn.Linear(37, 64))

    def forward(self, z):
        return self.net(z)  # Bernoulli logits, flat (B, 64)


class ConvBNEncoder(nn.Module):
    """Conv + BatchNorm + ELU, one mu ‖ logvar head (split by the importer, or by chunk() in the graph)."""

    def __init__(self, d: int = 2, chunk: bool = False):
        super().__init__()
        self.chunk = chunk
        self.net = nn.Sequential(nn.Conv2d(1, 6, 3, 1, 1), nn.BatchNorm2d(6), nn.ELU(), nn.Conv2d(6, 10, 3, 2, 1),
                                 nn.BatchNorm2d(10), nn.ReLU(), nn.Flatten(), nn.Linear(10 * 4 * 4, 24),
                                 nn.BatchNorm1d(24), nn.Tanh(), nn.Linear(24, 2 * d))

    def forward(self, x):
        h = self.net((x - 0.5) / 0.25)  # input normalisation: Sub and Div by constants before a padded conv
        return h.chunk(2, dim=1) if self.chunk else h


class ConvProbsDecoder(nn.Module):
    """Linear -> view -> ConvTranspose + BatchNorm -> ConvTranspose -> Sigmoid: outputs probabilities (B, 1, 8, 8)."""

    def __init__(self, d: int = 2):
        super().__init__()
        self.fc = nn.Linear(d, 8 * 2 * 2)
        self.up = nn.Sequential(nn.ConvTranspose2d(8, 5, 3, 2, 1, output_padding=1), nn.BatchNorm2d(5), nn.ELU(),
                                nn.ConvTranspose2d(5, 1, 3, 2, 1, output_padding=1))

    def forward(self, z):
        h = torch.relu(self.fc(z)).view(z.shape[0], 8, 2, 2)
        return torch.sigmoid(self.up(h))


class GaussianDecoder(nn.Module):
    """A Gaussian mean in [0, 1] by 0.5 * tanh + 0.5 (a Mul and an Add by constants after a non-linearity)."""

    def __init__(self, d: int = 3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, 29), nn.ELU(), nn.Linear(29, 64))
        self.scale = nn.Parameter(torch.linspace(0.3, 0.7, 64), requires_grad=False)

    def forward(self, z):
        return (torch.tanh(self.net(z)) * self.scale + 0.5).view(z.shape[0], 1, 8, 8)


@dataclass
class Case:
    """One researcher's model: the two ONNX files and how to import them."""
    encoder: bytes
    decoder: bytes
    options: dict = field(default_factory=dict)
    latent_dim: int = 2


def train_briefly(enc: nn.Module, dec: nn.Module, recon: str, steps: int = 800, seed: int = 0) -> None:
    """What a researcher's notebook does: a plain PyTorch ELBO loop on the digits (recon: logits | probs | mean)."""
    from vae.config import DataConfig
    from vae.data import load

    x = load(DataConfig()).train.x
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=3e-3)
    enc.train(), dec.train()
    for step in range(steps):
        xb = x[torch.randint(0, len(x), (64,), generator=g)]
        out = enc(xb)
        mu, logvar = out if isinstance(out, tuple) else out.chunk(2, dim=1)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=g)
        y, t = dec(z).reshape(64, -1), xb.reshape(64, -1)
        if recon == "mean":
            nll = ((y - t) ** 2).sum(1) / (2 * 0.1**2)
        elif recon == "probs":
            nll = nn.functional.binary_cross_entropy(y.clamp(1e-6, 1 - 1e-6), t, reduction="none").sum(1)
        else:
            nll = nn.functional.binary_cross_entropy_with_logits(y, t, reduction="none").sum(1)
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)
        opt.zero_grad()
        (nll + min(1.0, 2 * step / steps) * kl).mean().backward()  # KL warm-up: no collapse in a short run
        opt.step()
    enc.eval(), dec.eval()


def case(name: str, dynamic: bool = True, trained: bool = False) -> Case:
    """A researcher's model as two ONNX files: random weights (far from ours), or briefly trained on the digits."""
    torch.manual_seed(0)
    x, mu = torch.rand(2, 1, 8, 8), ["mu", "logvar"]
    if name == "mlp":
        enc, dec, outs, opts, d, recon = OddMLPEncoder(), OddMLPDecoder(), (mu, ["logits"]), {}, 3, "logits"
    elif name in ("conv", "conv-chunk"):
        chunk = name == "conv-chunk"
        enc, dec, outs = ConvBNEncoder(chunk=chunk), ConvProbsDecoder(), (mu if chunk else ["h"], ["probs"])
        opts, d, recon = ({} if chunk else {"split_output": True}), 2, "probs"
    elif name == "gaussian":
        enc, dec, outs, opts, d, recon = OddMLPEncoder(), GaussianDecoder(), (mu, ["mean"]), {"likelihood": "gaussian"}, 3, "mean"
    else:
        raise KeyError(name)
    if trained:
        train_briefly(enc, dec, recon)
    else:
        _randomise_bn(enc), _randomise_bn(dec)
    return Case(export(enc, x, outs[0], dynamic), export(dec, torch.randn(2, d), outs[1], dynamic), opts, d)


CASES = ("mlp", "conv", "conv-chunk", "gaussian")


def ort_run(blob: bytes, x: np.ndarray) -> list[np.ndarray]:
    """onnxruntime on the original file: the independent reference, batch by batch as the file allows."""
    import onnxruntime as ort

    sess = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    batch = inp.shape[0] if isinstance(inp.shape[0], int) else len(x)
    x = x.reshape(len(x), *[s for s in inp.shape[1:]]).astype(np.float32)
    parts = [sess.run(None, {inp.name: x[i : i + batch]}) for i in range(0, len(x), batch)]
    return [np.concatenate([p[k] for p in parts]).reshape(len(x), -1).astype(np.float64) for k in range(len(parts[0]))]


def expected_image(raw: np.ndarray, likelihood: str, decoder_output: str) -> np.ndarray:
    """The mean image in [0, 1] that a decoder's raw output stands for (what the app shows)."""
    if decoder_output == "logits":
        return 1 / (1 + np.exp(-raw))
    return np.clip(raw, PROBS_EPS, 1 - PROBS_EPS) if likelihood == "bernoulli" else np.clip(raw, 0, 1)
