"""Encoders, decoders and the VAE (Kingma & Welling, 2014), plus PCA and auto-encoder baselines.

Every model has the same interface, so the UI can put them side by side:
`encode(x) -> posterior`, `decode(z) -> image in [0, 1]`, `decoder_output(z) -> likelihood parameters`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vae.config import ConfigError, ModelConfig


class DiagonalGaussian:
    """q(z|x) = N(mu, diag(exp(logvar))); `logvar=None` is a point mass (AE and PCA codes)."""

    def __init__(self, mu: torch.Tensor, logvar: torch.Tensor | None = None):
        self.mu = mu  # (B, D)
        self.logvar = logvar  # (B, D) or None

    @property
    def deterministic(self) -> bool:
        return self.logvar is None

    @property
    def std(self) -> torch.Tensor:
        if self.logvar is None:
            return torch.zeros_like(self.mu)
        return torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """Reparameterised sample z = mu + sigma * eps; gradients flow to mu and logvar."""
        if self.logvar is None:
            return self.mu
        eps = torch.randn(self.mu.shape, generator=generator, device=self.mu.device, dtype=self.mu.dtype)
        return self.mu + self.std * eps

    def mode(self) -> torch.Tensor:
        return self.mu

    def kl(self) -> torch.Tensor:
        """KL(q || N(0, I)) per dimension, (B, D): 0.5 * (mu^2 + sigma^2 - 1 - log sigma^2)."""
        if self.logvar is None:
            raise ValueError("a point-mass code has no finite KL to the prior")
        return 0.5 * (self.mu.pow(2) + self.logvar.exp() - 1.0 - self.logvar)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z|x) summed over dimensions, (B,) or broadcast over leading sample dims."""
        if self.logvar is None:
            raise ValueError("a point-mass code has no density")
        return (-0.5 * (math.log(2 * math.pi) + self.logvar + (z - self.mu).pow(2) / self.logvar.exp())).sum(-1)


def _mlp(sizes: list[int], final_activation: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or final_activation:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _conv_sides(side: int, stages: int) -> list[int]:
    sides = [side]
    for _ in range(stages):
        sides.append((sides[-1] + 1) // 2)  # stride 2, kernel 3, padding 1
    return sides


class Encoder(nn.Module):
    """x (B, C, H, W) -> features (B, F); MLP or strided conv."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c, h, w = cfg.input_shape
        if cfg.arch == "mlp":
            self.net = nn.Sequential(nn.Flatten(), _mlp([cfg.n_pixels, *cfg.hidden], final_activation=True))
            self.out_features = cfg.hidden[-1]
        else:
            layers: list[nn.Module] = []
            prev = c
            for ch in cfg.channels:
                layers += [nn.Conv2d(prev, ch, kernel_size=3, stride=2, padding=1), nn.ReLU()]
                prev = ch
            hs, ws = _conv_sides(h, len(cfg.channels)), _conv_sides(w, len(cfg.channels))
            layers += [nn.Flatten(), nn.Linear(prev * hs[-1] * ws[-1], cfg.hidden[-1]), nn.ReLU()]
            self.net = nn.Sequential(*layers)
            self.out_features = cfg.hidden[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Decoder(nn.Module):
    """z (B, D) -> likelihood parameters (B, C, H, W): Bernoulli logits or Gaussian means."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.shape = cfg.input_shape
        c, h, w = cfg.input_shape
        if cfg.arch == "mlp":
            self.net = _mlp([cfg.latent_dim, *reversed(cfg.hidden), cfg.n_pixels])
        else:
            hs, ws = _conv_sides(h, len(cfg.channels)), _conv_sides(w, len(cfg.channels))
            chans = list(reversed(cfg.channels))
            layers: list[nn.Module] = [
                nn.Linear(cfg.latent_dim, cfg.hidden[-1]), nn.ReLU(),
                nn.Linear(cfg.hidden[-1], chans[0] * hs[-1] * ws[-1]), nn.ReLU(),
                nn.Unflatten(1, (chans[0], hs[-1], ws[-1])),
            ]
            outs = chans[1:] + [c]
            for i, (cin, cout) in enumerate(zip(chans, outs)):
                th, tw = hs[-2 - i], ws[-2 - i]
                sh, sw = hs[-1 - i], ws[-1 - i]
                # output_padding makes the transposed conv land exactly on the encoder's side length
                layers.append(nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1,
                                                 output_padding=(th - (2 * sh - 1), tw - (2 * sw - 1))))
                if i < len(outs) - 1:
                    layers.append(nn.ReLU())
            self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.shape)


class _Base(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        if cfg.likelihood == "gaussian":
            self.log_sigma = nn.Parameter(torch.tensor(math.log(cfg.sigma)), requires_grad=cfg.learn_sigma)
        else:
            self.log_sigma = None

    @property
    def generative(self) -> bool:
        """Only a VAE is trained so that decoding z ~ N(0, I) gives plausible images."""
        return self.config.kind == "vae"

    def decoder_output(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Mean image of p(x|z), (B, C, H, W) in [0, 1]."""
        out = self.decoder_output(z)
        return torch.sigmoid(out) if self.config.likelihood == "bernoulli" else out.clamp(0, 1)


class VAE(_Base):
    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.encoder = Encoder(cfg)
        self.to_mu = nn.Linear(self.encoder.out_features, cfg.latent_dim)
        self.to_logvar = nn.Linear(self.encoder.out_features, cfg.latent_dim)
        self.decoder = Decoder(cfg)

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        h = self.encoder(x)
        return DiagonalGaussian(self.to_mu(h), self.to_logvar(h))

    def decoder_output(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        posterior = self.encode(x)
        z = posterior.sample(generator)  # the reparameterisation trick: z = mu + sigma * eps
        return self.decoder_output(z), posterior, z


class AutoEncoder(VAE):
    """Deterministic auto-encoder: same networks as the VAE, no sampling and no KL."""

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        del self.to_logvar

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        return DiagonalGaussian(self.to_mu(self.encoder(x)))


class PCA(_Base):
    """Linear baseline fitted in closed form by SVD; z = (x - mean) V^T, x_hat = z V + mean."""

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.register_buffer("mean", torch.zeros(cfg.n_pixels))  # (P,)
        self.register_buffer("components", torch.zeros(cfg.latent_dim, cfg.n_pixels))  # (D, P)
        self.register_buffer("explained_variance", torch.zeros(cfg.latent_dim))  # (D,)

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> PCA:
        flat = x.reshape(x.shape[0], -1).to(torch.float64)  # (N, P)
        mean = flat.mean(0)
        _, s, vh = torch.linalg.svd(flat - mean, full_matrices=False)
        d = self.config.latent_dim
        # fix the sign so that the largest loading of each component is positive, as scikit-learn does
        signs = torch.sign(vh[:d].gather(1, vh[:d].abs().argmax(1, keepdim=True)))
        self.mean.copy_(mean)
        self.components.copy_(vh[:d] * signs)
        self.explained_variance.copy_(s[:d].pow(2) / max(1, flat.shape[0] - 1))
        return self

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        flat = x.reshape(x.shape[0], -1)
        return DiagonalGaussian((flat - self.mean) @ self.components.T)

    def linear_decode(self, z: torch.Tensor) -> torch.Tensor:
        return (z @ self.components + self.mean).view(z.shape[0], *self.config.input_shape)

    def decoder_output(self, z: torch.Tensor) -> torch.Tensor:
        lin = self.linear_decode(z)
        if self.config.likelihood == "bernoulli":
            return torch.logit(lin.clamp(1e-4, 1 - 1e-4))  # clamped so the Bernoulli NLL stays finite
        return lin

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        posterior = self.encode(x)
        return self.decoder_output(posterior.mu), posterior, posterior.mu


def build_model(cfg: ModelConfig) -> _Base:
    """The model of a config. An imported one (arch 'imported') is rebuilt by the checkpoint loader from its op
    program (vae/program.py): it cannot be built, or trained, from its config alone."""
    if cfg.arch == "imported":
        raise ConfigError("arch", "an imported model is rebuilt from its checkpoint's program: it cannot be trained "
                                  "from scratch (train an mlp or conv model, or import one with `python -m vae "
                                  "import-onnx`)")
    return {"vae": VAE, "ae": AutoEncoder, "pca": PCA}[cfg.kind](cfg)
