"""The β page's "New sweep" form: β values, seeds and the shared settings, submitted as one sweep of the job queue
(vae/jobs.py `submit_sweep`, whose grid is that of `python -m vae sweep`)."""

from __future__ import annotations

import streamlit as st

from ui.common import md
from ui.jobs_ui import OBJECTIVE_LABELS, apply_shapes_preset, job_manager, preset_layers
from ui.owner import owner_id
from ui.sweep_ui import SWEEP_KEY
from vae.config import ConfigError, DataConfig, ModelConfig, TrainConfig
from vae.data import BUILTIN
from vae.shapes import PRESET_MODEL, PRESET_TRAIN

ERR_KEY = "beta_errors"  # non-widget key: it survives leaving the page
DEFAULT_BETAS = "0.25, 0.5, 1, 2, 4, 8"
SWEEP_PRESET_KEYS = {"latent_dim": "beta_latent_dim", "epochs": "beta_epochs"}


def parse_betas(text: str) -> list[float]:
    """'0.25, 0.5, 1' -> [0.25, 0.5, 1.0], sorted and without repeats; ConfigError('betas') otherwise."""
    try:
        betas = sorted({float(t) for t in text.replace(";", ",").split(",") if t.strip()})
    except ValueError:
        raise ConfigError("betas", f"write numbers separated by commas, e.g. {DEFAULT_BETAS}") from None
    if not betas:
        raise ConfigError("betas", "list at least one β")
    return betas


def parse_seeds(text: str) -> list[int]:
    """'0, 1, 2' -> [0, 1, 2] without repeats; ConfigError('seeds') otherwise."""
    try:
        seeds = sorted({int(t) for t in str(text).replace(";", ",").split(",") if t.strip()})
    except ValueError:
        raise ConfigError("seeds", "write whole numbers separated by commas, e.g. 0, 1, 2") from None
    if not seeds:
        raise ConfigError("seeds", "list at least one seed")
    return seeds


def _launch() -> None:
    ss, errors = st.session_state, {}
    try:
        betas, seeds = parse_betas(ss.beta_list), parse_seeds(ss.get("beta_seeds", "0"))
        preset = ss.beta_data == "shapes"  # shapes: the preset conv net of vae/shapes.py
        arch = PRESET_MODEL["arch"] if preset else "mlp"
        model = ModelConfig(kind="vae", arch=arch, latent_dim=ss.beta_latent_dim, **preset_layers(ss.beta_data, arch))
        train = TrainConfig(epochs=ss.beta_epochs, seed=seeds[0], objective=ss.get("beta_objective", "elbo"),
                            **({"batch_size": PRESET_TRAIN["batch_size"]} if preset else {}))
        name = job_manager().submit_sweep(ss.beta_name.strip() or "sweep", betas, model, train,
                                          DataConfig(name=ss.beta_data), owner=owner_id(), seeds=seeds)
        ss[SWEEP_KEY] = name
    except ConfigError as e:
        errors[e.field] = e.message
    ss[ERR_KEY] = errors


def sweep_form() -> None:
    errors = st.session_state.get(ERR_KEY, {})
    st.text_input("β values", value=DEFAULT_BETAS, key="beta_list", persist_state="session", help="comma-separated; one run each")
    for f in ("betas", "beta"):
        if f in errors:
            st.error(md(errors[f]), icon="⚠️")
    a, b, c, d, o = st.columns(5)
    a.selectbox("Dataset", list(BUILTIN), key="beta_data",
                persist_state="session", on_change=apply_shapes_preset, args=("beta_data", SWEEP_PRESET_KEYS),
                help=f"shapes: {PRESET_MODEL['arch']} VAEs with z = {PRESET_MODEL['latent_dim']}, and MIG against β "
                     "beside the plane")
    b.number_input("Latent dimensions", value=2, step=1, key="beta_latent_dim", persist_state="session")
    c.number_input("Epochs", value=50, step=10, key="beta_epochs", persist_state="session")
    d.text_input("Seeds", value="0", key="beta_seeds", persist_state="session",
                 help="comma-separated; several seeds per β show the median and interquartile range")
    o.selectbox("Objective", list(OBJECTIVE_LABELS), key="beta_objective", persist_state="session",
                format_func=OBJECTIVE_LABELS.get, help="β-TCVAE puts β on the total correlation only (Chen et al., 2018)")
    for f in ("name", "latent_dim", "epochs", "seed", "seeds", "objective", "sweep_name", "run_name"):
        if f in errors:
            st.error(f"{f}: {md(errors[f])}", icon="⚠️")
    e, f = st.columns([3, 1], vertical_alignment="bottom")
    e.text_input("Sweep name", value="sweep", key="beta_name", persist_state="session")
    f.button("Run sweep", type="primary", on_click=_launch, key="beta_run", width="stretch")
