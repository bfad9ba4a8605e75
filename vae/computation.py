"""One input through the model, step by step, for the computation view (after VAE Explainer, Bertucci & Endert
2024): x → μ, log σ² → σ = exp(½ log σ²) → ε → z = μ + σ ⊙ ε → x̂, with this input's loss terms in nats."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vae.losses import recon_nll

SHOWN_DIMS = 8  # the view lists every dim up to this many, the first ones beyond


@dataclass(frozen=True)
class Computation:
    x: np.ndarray  # (C, H, W) the input
    mu: np.ndarray  # (D,)
    logvar: np.ndarray | None  # (D,); None for point codes (AE, PCA): σ = 0 and there is no ε
    sigma: np.ndarray | None  # (D,) exp(½ log σ²)
    eps: np.ndarray | None  # (D,) the noise drawn from N(0, I) with `seed`
    z: np.ndarray  # (D,) μ + σ ⊙ ε, or μ
    x_hat: np.ndarray  # (C, H, W) the decoder's mean image at z
    recon: float  # −log p(x | z) in nats, summed over pixels
    kl_per_dim: np.ndarray | None  # (D,) ½(μ² + σ² − log σ² − 1)
    seed: int

    @property
    def stochastic(self) -> bool:
        return self.logvar is not None

    @property
    def kl(self) -> float:
        return float(self.kl_per_dim.sum()) if self.kl_per_dim is not None else 0.0


@torch.no_grad()
def compute(model, x, *, seed: int = 0) -> Computation:
    """The chain for one image x (C, H, W) in [0, 1]; ε ~ N(0, I) from a generator seeded with `seed`, so the
    same seed gives the same z as `q.sample(torch.Generator().manual_seed(seed))`, the training path's sample."""
    model.eval()
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32)).reshape(1, *model.config.input_shape)  # (1, C, H, W)
    q = model.encode(xt)
    mu = q.mu  # (1, D)
    if q.deterministic:
        logvar = sigma = eps = kl = None
        z = mu
    else:
        logvar, sigma = q.logvar, torch.exp(0.5 * q.logvar)
        eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(int(seed)), dtype=mu.dtype)
        z = mu + sigma * eps
        kl = q.kl()[0].numpy()  # (D,) the closed form
    out = model.decoder_output(z)
    recon = float(recon_nll(xt, out, model.config.likelihood, model.log_sigma)[0])

    def row(t):
        return None if t is None else t[0].numpy().astype(np.float64)

    return Computation(x=xt[0].numpy(), mu=row(mu), logvar=row(logvar), sigma=row(sigma), eps=row(eps), z=row(z),
                       x_hat=model.decode(z)[0].numpy(), recon=recon, seed=int(seed),
                       kl_per_dim=None if kl is None else kl.astype(np.float64))


def kl_filled_in(mu: float, logvar: float) -> str:
    """The closed form for one dim with its numbers: ½(μ² + σ² − log σ² − 1) = ½(0.12² + 0.85 − (−0.16) − 1) = 0.01."""
    var = float(np.exp(logvar))
    value = 0.5 * (mu**2 + var - logvar - 1.0)
    return f"½({num(mu, paren=True)}² + {num(var)} − {num(logvar, paren=True)} − 1) = {num(value)}"


def num(v: float, *, paren: bool = False) -> str:
    """A figure as the view prints it: 3 decimals (4 significant digits below 0.001), a true minus sign."""
    v = float(v)
    text = f"{v:.3f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3g}"
    text = text.replace("-", "−")
    return f"({text})" if paren and v < 0 else text
