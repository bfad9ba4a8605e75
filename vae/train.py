"""The one training loop, shared by the CLI and the UI: preloaded tensors, Adam, callbacks, stop event, NaN guard."""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

from vae.config import ConfigError, TrainConfig
from vae.losses import elbo_terms, linear_ramp
from vae.tc import TERMS, kl_decomposition, tcvae_loss

TC_TERMS = tuple(TERMS)  # β-TCVAE runs log these per epoch: index-code MI, total correlation, dimension-wise KL


@dataclass
class Progress:
    """What a callback receives: every `log_every` steps (kind='step') and at each epoch end (kind='epoch')."""

    kind: str
    epoch: int  # 1-based epoch this report belongs to
    epochs: int
    step: int  # optimizer steps done so far in this run
    total_steps: int
    recon: float
    kl: float
    elbo: float
    loss: float
    beta: float
    kl_per_dim: list[float]
    images_per_sec: float
    elapsed_s: float
    eta_s: float
    test: dict | None = None  # epoch reports: recon, kl, elbo on the test set
    kl_split: dict | None = None  # β-TCVAE runs: the KL split into mi, tc, dwkl (batch means, nats per image)

    def to_dict(self) -> dict:
        """Flat, as the log's lines and the checkpoint's history hold it: a β-TCVAE run's mi, tc, dwkl at the top."""
        d = asdict(self)
        split = d.pop("kl_split") or {}
        return {**d, **split}


@dataclass
class TrainState:
    """Handed to `on_epoch_end`, e.g. to write a checkpoint."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer | None
    history: list[dict]
    epoch: int
    final: bool  # no further epoch follows (the last epoch, or PCA's single closed-form fit)


@dataclass
class TrainResult:
    status: str  # done | stopped | diverged
    message: str
    history: list[dict] = field(default_factory=list)
    images_per_sec: float = 0.0
    wall_s: float = 0.0
    steps: int = 0


def choose_device(preference: str = "auto") -> torch.device:
    """cuda, then mps, then cpu; an explicit choice that is unavailable is an error, not a silent fallback."""
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", "CUDA was requested but no CUDA device is available")
    if preference == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("device", "MPS was requested but is not available")
    return torch.device(preference)


def epoch_seed(seed: int, epoch: int) -> int:
    """The random stream of one epoch (shuffling and posterior samples), a function of the run's seed only."""
    return (seed * 1_000_003 + epoch) % 2**63


def make_optimizer(model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    try:  # the fused kernel saves a few percent per step on small models
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr)


def optimizer_tensors(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """Adam's moments keyed by parameter name, so they can be stored in safetensors for resume."""
    out = {}
    for name, p in model.named_parameters():
        st = optimizer.state.get(p)
        if not st:
            continue
        for k in ("exp_avg", "exp_avg_sq"):
            out[f"{name}.{k}"] = st[k]
        out[f"{name}.step"] = torch.as_tensor(st["step"], dtype=torch.float32).reshape(1)
    return out


def load_optimizer_tensors(model: torch.nn.Module, optimizer: torch.optim.Optimizer, tensors: dict) -> None:
    for name, p in model.named_parameters():
        if f"{name}.exp_avg" not in tensors or tensors[f"{name}.exp_avg"].shape != p.shape:
            continue
        optimizer.state[p] = {
            # fused Adam keeps its step count on the parameter's device
            "step": tensors[f"{name}.step"].reshape(()).to(p.device).clone(),
            "exp_avg": tensors[f"{name}.exp_avg"].to(p.device).clone(),
            "exp_avg_sq": tensors[f"{name}.exp_avg_sq"].to(p.device).clone(),
        }


@torch.no_grad()
def evaluate_terms(model: torch.nn.Module, x: torch.Tensor, *, batch_size: int = 1024, seed: int = 0) -> dict:
    """Test-set recon, kl, elbo in nats per image, with one posterior sample per image from a fixed seed."""
    model.eval()
    cfg = model.config
    g = torch.Generator(device=x.device).manual_seed(seed)
    sums = {"recon": 0.0, "kl": 0.0}
    for i in range(0, x.shape[0], batch_size):
        xb = x[i : i + batch_size]
        out, posterior, _ = model(xb, generator=g) if cfg.kind == "vae" else model(xb)
        t = elbo_terms(xb, out, posterior, likelihood=cfg.likelihood, log_sigma=model.log_sigma)
        sums["recon"] += t["recon"].item() * xb.shape[0]
        sums["kl"] += t["kl"].item() * xb.shape[0]
    n = max(1, x.shape[0])
    recon, kl = sums["recon"] / n, sums["kl"] / n
    return {"recon": recon, "kl": kl, "elbo": -(recon + kl)}


def train(
    model: torch.nn.Module,
    train_x: torch.Tensor,
    cfg: TrainConfig,
    *,
    test_x: torch.Tensor | None = None,
    callback: Callable[[Progress], None] | None = None,
    on_epoch_end: Callable[[TrainState], None] | None = None,
    stop_event: threading.Event | None = None,
    history: list[dict] | None = None,
    optimizer_state: dict[str, torch.Tensor] | None = None,
) -> TrainResult:
    """Train `model` in place until `cfg.epochs` epochs are in `history` (so a resumed run continues)."""
    n = train_x.shape[0]
    if cfg.batch_size > n:
        raise ConfigError("batch_size", f"{cfg.batch_size} is larger than the training set ({n} images)")
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    history = list(history or [])
    device = train_x.device
    t0 = time.perf_counter()

    tcvae = cfg.objective == "beta-tcvae"
    if tcvae and model.config.kind != "vae":
        raise ConfigError("objective", f"β-TCVAE needs a VAE (a stochastic encoder); this model is a {model.config.kind}")
    if model.config.kind == "pca":
        return _fit_pca(model, train_x, test_x, history, cfg, callback, on_epoch_end, t0)

    optimizer = make_optimizer(model, cfg.lr)
    if optimizer_state:
        load_optimizer_tensors(model, optimizer, optimizer_state)
    likelihood, log_sigma = model.config.likelihood, model.log_sigma
    g = torch.Generator(device=device)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    first_epoch = len(history)
    total_steps = steps_per_epoch * max(0, cfg.epochs - first_epoch)
    last_good = copy.deepcopy(model.state_dict())
    step, images = 0, 0

    def report(kind: str, epoch: int, sums: torch.Tensor, count: int, beta: float, test=None) -> Progress:
        elapsed = time.perf_counter() - t0
        ips = images / elapsed if elapsed > 0 else 0.0
        recon, kl, _, loss = (sums[:4] / max(1, count)).tolist()
        kl_dims = (sums[4:] / max(1, count)).tolist()
        eta = (total_steps - step) * (elapsed / step) if step else float("nan")
        split = dict(zip(TC_TERMS, (split_sums / max(1, count)).tolist())) if tcvae else None
        return Progress(kind, epoch, cfg.epochs, step, total_steps, recon, kl, -(recon + kl), loss, beta,
                        kl_dims, ips, elapsed, eta, test, split)

    for epoch in range(first_epoch + 1, cfg.epochs + 1):
        model.train()
        # reseeded per epoch, so a resumed run draws exactly what an uninterrupted one would have
        g.manual_seed(epoch_seed(cfg.seed, epoch))
        perm = torch.randperm(n, generator=g, device=device)
        sums = torch.zeros(4 + model.config.latent_dim, device=device)  # recon, kl, unused, loss, kl per dim
        split_sums = torch.zeros(len(TC_TERMS), device=device)  # β-TCVAE only: mi, tc, dwkl
        seen = 0
        beta = cfg.beta
        for i in range(steps_per_epoch):
            if stop_event is not None and stop_event.is_set():
                model.load_state_dict(last_good)  # the weights stay those of the last finished epoch, as on disk
                return _finish("stopped", f"stopped by request after {len(history)} epochs", history, images, t0, step)
            xb = train_x[perm[i * cfg.batch_size : (i + 1) * cfg.batch_size]]  # (B, C, H, W)
            progress_epochs = (epoch - 1) + i / steps_per_epoch
            beta = linear_ramp(progress_epochs, cfg.warmup_epochs, cfg.beta)
            capacity = None if cfg.capacity is None else linear_ramp(progress_epochs, cfg.capacity_epochs, cfg.capacity)
            out, posterior, z = model(xb, generator=g)
            terms = elbo_terms(xb, out, posterior, likelihood=likelihood, beta=beta, log_sigma=log_sigma, capacity=capacity)
            loss = terms["loss"]
            if tcvae:  # β weights the total correlation only; the warm-up ramps the whole KL term
                kl_split = kl_decomposition(z, posterior.mu, posterior.logvar, n)
                loss = tcvae_loss(terms, kl_split, beta=cfg.beta, weight=linear_ramp(progress_epochs, cfg.warmup_epochs, 1.0))
            if not torch.isfinite(loss):
                model.load_state_dict(last_good)
                where = f"the end of epoch {epoch - 1}" if epoch > 1 else "their initial values"
                msg = (f"training diverged: the loss became {loss.item()} at step {step + 1} (epoch {epoch}); "
                       f"weights were restored to {where}. Try a lower learning rate.")
                return _finish("diverged", msg, history, images, t0, step)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            b = xb.shape[0]
            with torch.no_grad():
                sums[0] += terms["recon"] * b
                sums[1] += terms["kl"] * b
                sums[3] += loss * b
                sums[4:] += terms["kl_per_dim"] * b
                if tcvae:
                    split_sums += torch.stack([kl_split[k] for k in TC_TERMS]) * b
            seen += b
            step += 1
            images += b
            if callback is not None and step % cfg.log_every == 0:
                callback(report("step", epoch, sums, seen, beta))
        test = evaluate_terms(model, test_x, seed=cfg.seed) if test_x is not None and len(test_x) else None
        p = report("epoch", epoch, sums, seen, beta, test)
        history.append({"epoch": epoch, "recon": p.recon, "kl": p.kl, "elbo": p.elbo, "loss": p.loss, "beta": beta,
                        "kl_per_dim": p.kl_per_dim, "test": test, "images_per_sec": p.images_per_sec,
                        "elapsed_s": p.elapsed_s, **(p.kl_split or {})})
        last_good = copy.deepcopy(model.state_dict())
        if on_epoch_end is not None:
            on_epoch_end(TrainState(model, optimizer, history, epoch, final=epoch == cfg.epochs))
        if callback is not None:
            callback(p)
    return _finish("done", f"finished {len(history)} epochs", history, images, t0, step)


def _finish(status: str, message: str, history: list[dict], images: int, t0: float, steps: int) -> TrainResult:
    wall = time.perf_counter() - t0
    return TrainResult(status, message, history, images / wall if wall > 0 else 0.0, wall, steps)


def _fit_pca(model, train_x, test_x, history, cfg, callback, on_epoch_end, t0) -> TrainResult:
    """PCA has a closed form: one SVD stands in for all epochs."""
    model.fit(train_x)
    train_terms = evaluate_terms(model, train_x)
    test = evaluate_terms(model, test_x) if test_x is not None and len(test_x) else None
    elapsed = time.perf_counter() - t0
    d = model.config.latent_dim
    history = [{"epoch": 1, **train_terms, "loss": train_terms["recon"], "beta": 0.0, "kl_per_dim": [0.0] * d,
                "test": test, "images_per_sec": train_x.shape[0] / max(elapsed, 1e-9), "elapsed_s": elapsed}]
    if on_epoch_end is not None:
        on_epoch_end(TrainState(model, None, history, 1, final=True))
    if callback is not None:
        callback(Progress("epoch", 1, 1, 1, 1, train_terms["recon"], 0.0, train_terms["elbo"], train_terms["recon"],
                          0.0, [0.0] * d, history[0]["images_per_sec"], elapsed, 0.0, test))
    return _finish("done", "fitted PCA in closed form", history, train_x.shape[0], t0, 1)
