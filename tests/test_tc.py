"""β-TCVAE: the KL decomposition's estimator (MSS) against closed forms and slow references, and the objective."""

from __future__ import annotations

import hashlib
import itertools
import math
import platform
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import norm

import vae.train as train_mod
from vae.config import ConfigError, DataConfig, ModelConfig, TrainConfig
from vae.data import load
from vae.model import build_model
from vae.tc import dataset_kl_decomposition, kl_decomposition, log_aggregate

ROOT = Path(__file__).resolve().parents[1]


def _correlated_codes(n: int, rho: float, d: int, var: float, seed: int):
    """Posteriors N(mu_n, var·I) whose mixture over n is N(0, R), R with every correlation rho: mu ~ N(0, R − var·I)."""
    g = torch.Generator().manual_seed(seed)
    r = torch.full((d, d), rho, dtype=torch.float64)
    r.fill_diagonal_(1.0)
    chol = torch.linalg.cholesky(r - var * torch.eye(d, dtype=torch.float64))
    mu = torch.randn(n, d, generator=g, dtype=torch.float64) @ chol.T
    return mu, torch.full_like(mu, math.log(var)), r, g


def test_tc_approaches_the_closed_form_of_a_correlated_gaussian_as_the_batch_grows():
    n = 20_000
    mu, logvar, r, g = _correlated_codes(n, rho=0.6, d=3, var=0.1, seed=0)
    truth = -0.5 * torch.logdet(r).item()  # TC of N(0, R) = sum of marginal entropies - joint entropy
    errors = {}
    for b in (64, 256, 1024, 4096):
        est = []
        for _ in range(max(2, 8192 // b)):  # the same number of samples per batch size
            idx = torch.randperm(n, generator=g)[:b]
            z = mu[idx] + torch.exp(0.5 * logvar[idx]) * torch.randn(b, 3, generator=g, dtype=torch.float64)
            est.append(kl_decomposition(z, mu[idx], logvar[idx], n)["tc"].item())
        errors[b] = abs(np.mean(est) - truth)
    assert errors[64] > errors[1024] and errors[256] > errors[4096], errors  # the bias shrinks with the batch
    assert errors[1024] < 0.04 and errors[4096] < 0.02, errors  # and is small for a large one (TC = 0.522 nats)


def _exact_log_mixture(z, mu, logvar):
    """Slow reference: log (1/N) Σ_n q(z|x_n), jointly and per dim, by loops over scipy's normal density."""
    sd = np.exp(0.5 * logvar)
    n = len(mu)
    joint = np.log(np.mean([np.prod(norm.pdf(z, mu[j], sd[j])) for j in range(n)]))
    dims = np.log([np.mean([norm.pdf(z[k], mu[j, k], sd[j, k]) for j in range(n)]) for k in range(len(z))])
    return joint, dims


def test_full_batch_is_the_exact_mixture_and_smaller_batches_are_unbiased():
    rng = np.random.default_rng(1)
    n, d = 12, 2
    mu, logvar = rng.normal(size=(n, d)), rng.normal(-1.0, 0.5, size=(n, d))
    z = mu + np.exp(0.5 * logvar) * rng.normal(size=(n, d))  # z_i ~ q(z|x_i)
    t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    joint, dims = log_aggregate(t(z), t(mu), t(logvar), n)  # B = N: every image in the batch
    for i in range(n):
        ref_joint, ref_dims = _exact_log_mixture(z[i], mu, logvar)
        assert joint[i].item() == pytest.approx(ref_joint, abs=1e-9)
        np.testing.assert_allclose(dims[i].numpy(), ref_dims, atol=1e-9)
    # B = 3: averaged over every batch that holds image 0 (first) and two others, the density estimate is exact
    i = 0
    ref_joint, ref_dims = _exact_log_mixture(z[i], mu, logvar)
    est_joint, est_dims = [], []
    for others in itertools.combinations(range(1, n), 2):
        rows = [i, *others]
        bj, bd = log_aggregate(t(z[rows]), t(mu[rows]), t(logvar[rows]), n)
        est_joint.append(bj[0].exp().item())
        est_dims.append(bd[0].exp().numpy())
    assert np.mean(est_joint) == pytest.approx(np.exp(ref_joint), rel=1e-9)
    np.testing.assert_allclose(np.mean(est_dims, axis=0), np.exp(ref_dims), rtol=1e-9)


def test_three_terms_sum_to_the_average_kl():
    g = torch.Generator().manual_seed(2)
    b, d = 512, 5
    mu = torch.randn(b, d, generator=g, dtype=torch.float64) * torch.tensor([1.5, 1.0, 0.5, 0.1, 0.0])
    logvar = torch.randn(b, d, generator=g, dtype=torch.float64) * 0.3 - torch.tensor([2.0, 1.5, 1.0, 0.2, 0.0])
    z = mu + torch.exp(0.5 * logvar) * torch.randn(b, d, generator=g, dtype=torch.float64)
    s = kl_decomposition(z, mu, logvar, 50_000)
    # exact identity: the log q(z) and log q(z_d) estimates telescope away, leaving the one-sample KL
    assert (s["mi"] + s["tc"] + s["dwkl"]).item() == pytest.approx(s["kl_mc"].item(), abs=1e-9)
    # which estimates the analytic KL within its Monte Carlo error (one z per image)
    per_image = (torch.distributions.Normal(mu, logvar.mul(0.5).exp()).log_prob(z)
                 - torch.distributions.Normal(0.0, 1.0).log_prob(z)).sum(1)
    analytic = torch.distributions.kl_divergence(torch.distributions.Normal(mu, logvar.mul(0.5).exp()),
                                                 torch.distributions.Normal(0.0, 1.0)).sum(1).mean()
    assert abs(s["kl_mc"].item() - analytic.item()) < 4 * per_image.std().item() / math.sqrt(b)
    assert s["mi"].item() <= math.log(50_000) + 1e-9  # MSS keeps the own term's 1/N: MI can never pass log N
    assert s["dwkl"].item() > 0


def test_batch_of_one_and_bad_shapes():
    z, mu, lv = torch.zeros(1, 3), torch.zeros(1, 3), torch.zeros(1, 3)
    s = kl_decomposition(z + 0.3, mu, lv, 100)
    assert s["mi"].item() == pytest.approx(0) and s["tc"].item() == pytest.approx(0)
    assert s["dwkl"].item() == pytest.approx(s["kl_mc"].item())
    with pytest.raises(ValueError, match="larger than the dataset"):
        log_aggregate(torch.zeros(4, 2), torch.zeros(4, 2), torch.zeros(4, 2), 3)
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        log_aggregate(torch.zeros(4, 2), torch.zeros(4, 3), torch.zeros(4, 2), 10)


# ---- the objective ----
MODEL = ModelConfig(hidden=(32,), latent_dim=4)


@pytest.fixture(scope="module")
def digits_x():
    return load(DataConfig()).train.x


def _run(x, model_cfg=MODEL, **kw):
    torch.manual_seed(0)
    model = build_model(model_cfg)
    cfg = TrainConfig(**{"epochs": 2, "batch_size": 64, "threads": 1, "seed": 0, **kw})
    return model, train_mod.train(model, x, cfg)


def test_tcvae_logs_the_split_and_penalises_tc_only_beyond_beta_1(digits_x):
    elbo, _ = _run(digits_x)
    tc1, r1 = _run(digits_x, objective="beta-tcvae", beta=1.0)
    tc8, r8 = _run(digits_x, objective="beta-tcvae", beta=8.0)
    # α = γ = 1: at β = 1 the loss is the ELBO's, so training takes the same steps
    for k, v in elbo.state_dict().items():
        assert torch.equal(v, tc1.state_dict()[k]), k
    assert any(not torch.equal(v, tc8.state_dict()[k]) for k, v in elbo.state_dict().items())
    for h in r1.history + r8.history:
        assert {"mi", "tc", "dwkl"} <= set(h) and h["dwkl"] >= 0
        # the minibatch terms sum to a one-sample estimate of the logged analytic KL
        assert h["mi"] + h["tc"] + h["dwkl"] == pytest.approx(h["kl"], abs=0.1 + 0.05 * h["kl"])
    h = r8.history[-1]
    assert h["loss"] == pytest.approx(h["recon"] + h["kl"] + 7.0 * h["tc"], rel=0.02)
    assert h["beta"] == 8.0


def test_tcvae_warmup_ramps_the_whole_kl(digits_x, monkeypatch):
    weights = []
    real = train_mod.tcvae_loss

    def spy(terms, split, *, beta, weight):
        weights.append((beta, weight))
        return real(terms, split, beta=beta, weight=weight)

    monkeypatch.setattr(train_mod, "tcvae_loss", spy)
    _run(digits_x, objective="beta-tcvae", beta=4.0, warmup_epochs=2.0)
    steps = math.ceil(len(digits_x) / 64)
    assert len(weights) == 2 * steps and all(b == 4.0 for b, _ in weights)
    assert [w for _, w in weights] == pytest.approx([min(1.0, s / steps / 2.0) for s in range(2 * steps)])


def test_objective_validation(digits_x):
    with pytest.raises(ConfigError) as e:
        TrainConfig(objective="tcvae")
    assert e.value.field == "objective" and "elbo, beta-tcvae" in e.value.message
    with pytest.raises(ConfigError) as e:
        TrainConfig(objective="beta-tcvae", capacity=5.0)
    assert e.value.field == "capacity"
    assert TrainConfig.from_dict({"beta": 2.0}).objective == "elbo"  # checkpoints from before the field
    with pytest.raises(ConfigError) as e:
        _run(digits_x, ModelConfig(kind="ae", hidden=(32,)), objective="beta-tcvae")
    assert e.value.field == "objective"


# Weights after 2 epochs of each case with main's code (f124349, before β-TCVAE), torch 2.14.1 on x86-64 CPU.
# The loss figures are checked everywhere; the bit-exact digests where the torch build and machine match.
MAIN_ELBO = {
    "plain": ({}, {}, "5c6cf993aefa1318ee901f62a01e867db84abc5fa8d3466d902901ea548ff25e", [43.0762, 39.0195]),
    "warmup_beta2": ({}, {"beta": 2.0, "warmup_epochs": 1.0},
                     "a676c971b045819dc2b17e64eb8d3715641379106e0af46d47f5dc432a0d7fdd", [43.1093, 39.61]),
    "capacity": ({}, {"capacity": 2.0, "capacity_epochs": 1.0},
                 "15cb5160010b51696468ca8c3d39d3af1dee6b2560daff3363ee372b3d14d808", [43.8736, 38.9615]),
    "gauss_conv": ({"arch": "conv", "channels": (8, 16), "likelihood": "gaussian", "learn_sigma": True, "latent_dim": 3},
                   {"batch_size": 50}, "9401cb1925f914caa90299b482ef0a588573684290d130c2545d45077a13e655",
                   [439.8977, 275.7669]),
}
MAIN_BUILD = ("2.14.1+cu130", "x86_64")


@pytest.mark.parametrize("case", sorted(MAIN_ELBO))
def test_elbo_objective_trains_as_on_main(digits_x, case):
    model_kw, train_kw, digest, losses = MAIN_ELBO[case]
    model, result = _run(digits_x, ModelConfig(**{"hidden": (32,), **model_kw}), **train_kw)
    assert [round(h["loss"], 4) for h in result.history] == pytest.approx(losses, abs=2e-4)
    assert not {"mi", "tc", "dwkl"} & set(result.history[-1])
    if (torch.__version__, platform.machine()) != MAIN_BUILD:
        pytest.skip(f"bit-exact digest recorded on torch {MAIN_BUILD[0]} / {MAIN_BUILD[1]}")
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().contiguous().numpy().tobytes())
    assert h.hexdigest() == digest


def test_dataset_decomposition_of_a_model(digits_x):
    model, _ = _run(digits_x, objective="beta-tcvae", beta=4.0)
    s = dataset_kl_decomposition(model, digits_x[:300], seed=0)
    assert s["n"] == s["dataset_size"] == 300  # exact mixture: the whole set is one batch
    assert s["mi"] + s["tc"] + s["dwkl"] == pytest.approx(s["kl_mc"], abs=1e-9)
    assert s["mi"] <= math.log(300) + 1e-9
    sub = dataset_kl_decomposition(model, digits_x[:300], seed=0, max_images=100)
    assert sub["n"] == 100 and sub["dataset_size"] == 300
    ae, _ = _run(digits_x, ModelConfig(kind="ae", hidden=(32,)))
    assert dataset_kl_decomposition(ae, digits_x[:50]) is None


def test_cli_objective_flag_reaches_the_checkpoint_and_job_spec(tmp_path, capsys):
    import json

    from vae.__main__ import main
    from vae.checkpoint import read_metadata
    from vae.spec import read_job_spec

    out = tmp_path / "tc.safetensors"
    args = ["train", "--objective", "beta-tcvae", "--beta", "3", "--latent-dim", "3", "--hidden", "16", "--epochs",
            "1", "--threads", "1", "--no-progress"]
    assert main([*args, "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {"mi", "tc", "dwkl"} <= set(summary["final"])
    meta = read_metadata(out)
    assert meta["train"]["objective"] == "beta-tcvae" and {"mi", "tc", "dwkl"} <= set(meta["history"][0])
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps({"model": meta["model"], "train": meta["train"], "data": {"name": "digits"},
                                "checkpoint": str(tmp_path / "again.safetensors")}))
    assert read_job_spec(spec)[1].objective == "beta-tcvae"
    assert main(["train", "--objective", "TC", "--out", str(tmp_path / "x.safetensors")]) == 2
    assert "invalid objective" in capsys.readouterr().err


def test_a_negative_minibatch_tc_is_explained_where_it_is_drawn():
    """The bundled β = 4 β-TCVAE logs training TC below zero (estimator bias at batch 64): both charts that draw
    the per-epoch terms say so, and a run whose TC stayed ≥ 0 gets no note."""
    from ui.jobs_ui import curves_figure
    from ui.kl_split import history_figure
    from vae.checkpoint import load_checkpoint
    from vae.tc import negative_tc_note

    ckpt = load_checkpoint(ROOT / "checkpoints" / "demos" / "shapes-4-tcvae-b4.safetensors")
    low = min(h["tc"] for h in ckpt.history)
    assert low < 0
    note = negative_tc_note(ckpt.history, 64)
    assert note and f"{low:.2f}" in note and "batch 64" in note
    for fig in (history_figure(ckpt.history, 64), curves_figure(ckpt.history)):
        assert "estimator bias" in (fig.layout.title.text or "")
    fine = [{**h, "tc": abs(h["tc"])} for h in ckpt.history]
    assert negative_tc_note(fine, 64) is None
    assert "estimator bias" not in (history_figure(fine, 64).layout.title.text or "")
    assert "estimator bias" not in (curves_figure(fine).layout.title.text or "")
