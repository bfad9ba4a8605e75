"""Factor helpers shared by the Factors, β sweep and Compare pages: cached MIG scores, the MI heatmap, labelled traversals."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ui.common import encode_test, load_model, load_split, mtime
from vae import explore
from vae.errors import VaeError
from vae.metrics import ACTIVE_UNIT_THRESHOLD, MIG_BINS, factor_scores, kl_per_dim
from vae.mig import N_SAMPLES, mig_without, sampled_factor_scores, whole_set

TRAVERSAL_LIMIT = 2.5  # traversals sweep each dim over ±this many prior standard deviations


@st.cache_data(max_entries=32, show_spinner="Measuring mutual information with the factors…")
def _scores(path: str, mt: float) -> dict | None:
    ckpt = load_model(path)
    test = load_split(ckpt).test
    if test.factors is None or ckpt.model_config.latent_dim < 2:
        return None
    enc = encode_test(path)
    mu, factors = enc["mu"], test.factors.numpy()
    s = factor_scores(mu, factors, test.factor_names)
    # binned means are scale-free: a dim the decoder ignores (Var μ tiny) still counts, and can be a runner-up
    active = mu.var(axis=0) > ACTIVE_UNIT_THRESHOLD
    mig_active = factor_scores(mu[:, active], factors).mig if active.sum() >= 2 else None
    return {"mi": s.mi, "entropy": s.entropy, "gaps": s.gaps, "mig": s.mig, "mig_no_shape": mig_without(s),
            "names": s.factor_names,
            "best_dim": s.best_dim, "best_factor": s.best_factor, "levels": test.factor_levels,
            "kl": kl_per_dim(mu, enc["logvar"]), "active": active, "mig_active": mig_active, "n": int(len(test))}


def scores_for(path) -> dict | None:
    """MI matrix, entropies, gaps and MIG of a checkpoint on its own test split; None without known factors.

    Cached by path and mtime. A checkpoint whose dataset no longer loads also gives None.
    """
    try:
        return _scores(str(path), mtime(path))
    except (VaeError, OSError, ValueError):
        return None


@st.cache_data(max_entries=32, show_spinner="Estimating Chen et al.'s sampled MIG over the whole dataset…")
def _sampled(path: str, mt: float) -> dict | None:
    ckpt = load_model(path)
    every = whole_set(load_split(ckpt))
    if every is None or not ckpt.model.generative or ckpt.model_config.latent_dim < 2:
        return None
    mu, logvar = explore.encode_dataset(ckpt.model, every[0])
    s = sampled_factor_scores(mu, logvar, every[1], every[2])
    return {"mi": s.mi, "entropy": s.entropy, "gaps": s.gaps, "mig": s.mig, "mig_no_shape": mig_without(s),
            "names": s.factor_names, "n": int(len(mu)), "n_samples": min(N_SAMPLES, int(len(mu)))}


def sampled_scores_for(path) -> dict | None:
    """Chen et al.'s sampled MI matrix, log K normalisers, gaps and MIG (with and without shape) over the whole
    dataset (train + test); None without known factors or without a posterior to sample (AE, PCA). Cached."""
    try:
        return _sampled(str(path), mtime(path))
    except (VaeError, OSError, ValueError):
        return None


def mig_of(path) -> float | None:
    s = scores_for(path)
    return None if s is None else s["mig"]


def mi_heatmap(s: dict, height: int | None = None) -> go.Figure:
    """Dims × factors, each cell I(z_d; v_k) / H(v_k): the share of a factor's entropy one dim carries."""
    share = s["mi"] / np.maximum(s["entropy"], 1e-12)  # (D, K)
    d = share.shape[0]
    rows = [f"z{i + 1}" for i in range(d)]
    text = [[f"{v:.2f}" for v in r] for r in share]
    fig = go.Figure(go.Heatmap(
        z=share.tolist(), x=list(s["names"]), y=rows, zmin=0, zmax=1, colorscale="Blues", text=text, texttemplate="%{text}",
        colorbar=dict(title="I / H"),
        hovertemplate="%{y} · %{x}<br>I(z; factor) / H(factor) = %{z:.3f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(height=height or 80 + 28 * d, margin=dict(l=10, r=10, t=30, b=10),
                      title="Mutual information of each dim with each factor (share of the factor's entropy)")
    return fig


def gap_table(s: dict) -> list[dict]:
    """Per factor: the best and second-best dim, their MI shares and the normalised gap."""
    share = s["mi"] / np.maximum(s["entropy"], 1e-12)
    out = []
    for k, name in enumerate(s["names"]):
        order = np.argsort(share[:, k])[::-1]
        out.append({"factor": name, "H (nats)": round(float(s["entropy"][k]), 3),
                    "best dim": f"z{order[0] + 1}", "share": round(float(share[order[0], k]), 3),
                    "runner-up": f"z{order[1] + 1}", "share ": round(float(share[order[1], k]), 3),
                    "gap": round(float(s["gaps"][k]), 3)})
    return out


def dim_label(s: dict, i: int) -> str:
    """'z3 · x (0.71 of H) · KL 2.10 nats': the factor this dim captures best; "inactive" when Var_x μ is tiny."""
    share = s["mi"][i] / np.maximum(s["entropy"], 1e-12)
    k = int(share.argmax())
    text = f"z{i + 1} · {s['names'][k]} ({share[k]:.2f} of H)"
    return text + f" · KL {s['kl'][i]:.2f} nats" + ("" if s["active"][i] else " · inactive")


@st.cache_data(max_entries=16, show_spinner=False)
def _traversals(path: str, mt: float, base: tuple[float, ...], steps: int, max_rows: int) -> list[tuple[str, np.ndarray]]:
    s, model = _scores(path, mt), load_model(path).model
    order = np.argsort(s["kl"])[::-1][:max_rows]  # most informative dims first
    values = np.linspace(-TRAVERSAL_LIMIT, TRAVERSAL_LIMIT, steps)
    rows = []
    for i in order:
        imgs = explore.traversal(model, base, int(i), values)  # (steps, C, H, W)
        rows.append((dim_label(s, int(i)), explore.tile(imgs[None])))
    return rows


def traversals(path, base, steps: int = 9, max_rows: int = 10) -> list[tuple[str, np.ndarray]]:
    """One mosaic row per dim, highest KL first, each labelled with the factor it carries most about."""
    return _traversals(str(path), mtime(path), tuple(float(v) for v in base), steps, max_rows)


def estimators_note(s: dict, sampled: dict | None) -> str:
    """Why the two MIG figures differ, in one line with this checkpoint's numbers."""
    other = ("" if sampled is None else f"; sampled: z ~ q(z|x) for {sampled['n_samples']} of all {sampled['n']} "
             "images against the whole set's q(z), so the posterior's noise counts and a dim at the prior carries 0")
    return (f"Why two MIGs: binned uses the posterior means μ(x) of the {s['n']} test images in {MIG_BINS} bins, which "
            f"finds structure even in tiny movements of unused dims and is biased up by binning{other}. Both divide "
            "by each factor's entropy (log K for the uniform shapes factors); 'no shape' leaves out the shape "
            "factor, as Chen et al.'s own dSprites figures do.")


def explain_sampled(sampled: dict) -> str:
    return (f"MI is estimated as in Chen et al. (2018): one z ~ q(z|x) for each of {sampled['n_samples']} images, "
            f"and I(z_d; v) = H(z_d) − H(z_d | v), where q(z_d) is the mixture of all {sampled['n']} images' "
            "posteriors and q(z_d | v = l) that of the images with level l, each evaluated by log-sum-exp. The gap of "
            "a factor is divided by log K, its entropy with K equally likely levels.")


def active_dims_line(s: dict) -> str:
    """'Active dims (Var_x μ > 0.01): z1, z4 (2 of 10)'."""
    active = [f"z{i + 1}" for i in np.flatnonzero(s["active"])]
    return (f"Active dims (Var_x μ > {ACTIVE_UNIT_THRESHOLD}): {', '.join(active) or 'none'} "
            f"({len(active)} of {len(s['active'])})")


def explain(s: dict) -> str:
    return (f"MI is estimated as in disentanglement_lib: each dim's posterior means μ(x) on the {s['n']} test images "
            f"are cut into {MIG_BINS} equal-width bins. MIG (Chen et al., 2018) is, per factor, the gap between the "
            "two dims that know most about it, divided by the factor's entropy, averaged over factors: 1 when every "
            "factor lives in exactly one dim, 0 when none does or when two dims share it. It does not penalise one "
            "dim holding two factors. Binning is scale-free, so an inactive dim (Var_x μ ≤ "
            f"{ACTIVE_UNIT_THRESHOLD}, which the decoder treats as noise) still counts when its tiny μ moves with a "
            "factor; 'MIG, active dims' leaves those dims out.")
