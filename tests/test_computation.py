"""The computation view: each number it shows is model.encode / the reparameterisation / decode in torch for a fixed
ε, the KL is the closed form (and torch.distributions'), and point codes say σ = 0 and have no ε."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vae import computation as C
from vae.checkpoint import load_checkpoint
from vae.losses import recon_nll

ROOT = Path(__file__).resolve().parents[1]


def _x(ckpt, row: int = 3) -> torch.Tensor:
    from vae import data as D

    return D.load(D.config_from_info(ckpt.data)).test.x[row]  # (C, H, W)


@pytest.mark.parametrize("seed", [0, 7])
def test_the_chain_is_encode_reparameterise_decode(tiny_ckpts, seed):
    ck = load_checkpoint(tiny_ckpts["vae8"])
    model, x = ck.model, _x(ck)
    c = C.compute(model, x, seed=seed)
    with torch.no_grad():
        q = model.encode(x[None])
        eps = torch.randn((1, 8), generator=torch.Generator().manual_seed(seed))  # the fixed ε
        z = q.mu + torch.exp(0.5 * q.logvar) * eps
        z_model = q.sample(torch.Generator().manual_seed(seed))  # the training path's own sample (forward)
        x_hat = model.decode(z)
        recon = recon_nll(x[None], model.decoder_output(z), model.config.likelihood, model.log_sigma)
    np.testing.assert_allclose(c.mu, q.mu[0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(c.logvar, q.logvar[0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(c.sigma, np.sqrt(np.exp(q.logvar[0].numpy())), rtol=1e-5)
    np.testing.assert_allclose(c.eps, eps[0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(c.z, z[0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(c.z, z_model[0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(c.x_hat, x_hat[0].numpy(), atol=1e-6)
    assert c.recon == pytest.approx(float(recon[0]), rel=1e-6)
    ref = kl_divergence(Normal(q.mu[0], torch.exp(0.5 * q.logvar[0])), Normal(0.0, 1.0)).numpy()
    np.testing.assert_allclose(c.kl_per_dim, ref, rtol=1e-4, atol=1e-6)
    assert c.kl == pytest.approx(float(ref.sum()), rel=1e-4)
    if seed:
        assert not np.allclose(c.z, C.compute(model, x, seed=0).z)  # another ε, another z


@pytest.mark.parametrize("kind", ["ae", "pca"])
def test_point_codes_have_sigma_zero_and_no_eps(tiny_ckpts, kind):
    ck = load_checkpoint(tiny_ckpts[kind])
    x = _x(ck)
    c = C.compute(ck.model, x, seed=3)
    with torch.no_grad():
        mu = ck.model.encode(x[None]).mu[0].numpy()
    assert not c.stochastic and c.logvar is None and c.eps is None and c.sigma is None and c.kl == 0.0
    np.testing.assert_allclose(c.z, mu, rtol=1e-6)


def _numbers(text: str) -> list[float]:
    return [float(t) for t in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", text.replace("−", "-"))]


@pytest.mark.parametrize("mu, logvar", [(0.12, -0.16), (-1.5, 0.4), (2.0, -6.0), (0.0, 0.0)])
def test_the_filled_in_formula_evaluates_to_its_value(mu, logvar):
    text = C.kl_filled_in(mu, logvar)
    formula, value = text.replace("²", "").rsplit("=", 1)
    (m, var, lv, one), (value,) = _numbers(formula), _numbers(value)
    assert (m, lv, one) == (round(mu, 3), round(logvar, 3), 1.0) and var == pytest.approx(np.exp(logvar), abs=1e-3)
    closed = 0.5 * (mu**2 + np.exp(logvar) - logvar - 1)
    assert value == pytest.approx(closed, abs=1e-3)
    assert 0.5 * (m**2 + var - lv - 1) == pytest.approx(value, abs=2e-3)  # the shown sum is the shown result


# --- the page -------------------------------------------------------------------------------------------------


def _page(path, row: int = 3):
    from streamlit.testing.v1 import AppTest

    from conftest import as_run

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["ckpt_id"] = as_run(path)
    at.session_state["map_classic"] = True
    at.run()
    at.session_state["map_point"] = row
    at.toggle(key="map_comp_show").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _boxes(at) -> dict[str, list[float]]:
    """The graph's boxes: title -> the numbers listed under it (one per dim), read from the Plotly spec."""
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    spec = next(s for s in charts if any(a.get("name") == "z" for a in s["layout"].get("annotations", [])))
    out = {}
    for a in spec["layout"]["annotations"]:
        if a.get("name"):
            _, *lines = a["text"].split("<br>")
            out[a["name"]] = [_numbers(re.sub(r"<[^>]+>\d+</span>", "", ln))[0] for ln in lines]
    return out


def test_the_page_shows_the_chains_numbers_and_resamples(tiny_ckpts, runs_dir):
    ck = load_checkpoint(tiny_ckpts["vae8"])
    at = _page(tiny_ckpts["vae8"])
    c = C.compute(ck.model, _x(ck), seed=0)
    shown = _boxes(at)
    for key, want in (("mu", c.mu), ("logvar", c.logvar), ("sigma", c.sigma), ("eps", c.eps), ("z", c.z)):
        np.testing.assert_allclose(shown[key], want, atol=6e-4, err_msg=key)
    table = at.dataframe[0].value
    np.testing.assert_allclose(table["KL (nats)"].to_numpy(), c.kl_per_dim, rtol=1e-6)
    np.testing.assert_allclose(table["μ"].to_numpy(), c.mu, rtol=1e-6)
    text = next(m.value for m in at.markdown if "recon =" in m.value)
    assert f"**{C.num(c.recon)}** nats" in text and f"**{C.num(c.kl)}** nats" in text
    at.button(key="map_comp_resample").click().run()
    c1 = C.compute(ck.model, _x(ck), seed=1)
    shown = _boxes(at)
    np.testing.assert_allclose(shown["eps"], c1.eps, atol=6e-4)
    np.testing.assert_allclose(shown["z"], c1.z, atol=6e-4)
    np.testing.assert_allclose(shown["mu"], c.mu, atol=6e-4)  # μ is the encoder's: no noise in it


def test_the_page_says_sigma_is_zero_for_pca(tiny_ckpts, runs_dir):
    at = _page(tiny_ckpts["pca"])
    ck = load_checkpoint(tiny_ckpts["pca"])
    shown = _boxes(at)
    assert set(shown) == {"z"}
    np.testing.assert_allclose(shown["z"], C.compute(ck.model, _x(ck)).z, atol=6e-4)
    notes = [a["text"] for c in at.get("plotly_chart") for a in json.loads(c.proto.spec)["layout"].get("annotations", [])]
    assert any("σ = 0 and there is no ε" in t for t in notes), notes
    assert not at.dataframe and not [b for b in at.button if b.key == "map_comp_resample"]
