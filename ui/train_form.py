"""The Train page's form: dataset, model and optimisation settings, validated by the config dataclasses on Start,
with each field's error under its widget; the shapes preset fills the form when shapes is chosen."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from ui.common import md, store
from ui.jobs_ui import ERR_KEY, JOB_KEY, job_manager
from ui.owner import owner_id
from vae.config import ConfigError, DataConfig, ModelConfig, TrainConfig
from vae.data import BUILTIN, TORCHVISION, DataError, default_data_dir
from vae.shapes import PRESET_MODEL, PRESET_TRAIN
from vae.uploads import UploadError, save_dataset_upload

UPLOAD = "upload .npz…"
DATASETS = [*BUILTIN, UPLOAD]
OBJECTIVE_LABELS = {"elbo": "ELBO: β × KL", "beta-tcvae": "β-TCVAE: β × total correlation"}
OFFICIAL_TRAIN = 60_000  # the official training split of each torchvision dataset (MNIST, Fashion-MNIST, KMNIST)


@st.cache_data(max_entries=16, show_spinner=False)
def train_size(data_json: str) -> int:
    """Images in the training split of a dataset config, without downloading anything (cached per config)."""
    from vae.data import load

    cfg = DataConfig.from_dict(json.loads(data_json))
    # never trigger a download just to check a form
    n = OFFICIAL_TRAIN if cfg.name.strip().lower() in TORCHVISION else load(cfg).info["n_train"]
    return min(n, cfg.limit) if cfg.limit is not None else n


TRAIN_PRESET_KEYS = {"arch": "train_arch", "latent_dim": "train_latent_dim", "epochs": "train_epochs",
                     "batch_size": "train_batch_size"}


def field_error(name: str) -> None:
    """The validation message for one config field, shown right under its widget."""
    msg = st.session_state.get(ERR_KEY, {}).get(name)
    if msg:
        st.error(md(msg), icon="⚠️")  # messages quote uploaded file names: escaped


def _collect(cls, kwargs: dict, errors: dict):
    """Build a config, gathering every bad field (not just the first) by retrying with that field's default."""
    kwargs = dict(kwargs)
    for _ in range(len(kwargs) + 1):
        try:
            return cls(**kwargs)
        except ConfigError as e:
            errors[e.field] = e.message
            if e.field not in kwargs:
                return None
            kwargs[e.field] = getattr(cls(), e.field)
    return None


def _configs(ss) -> tuple[dict, tuple | None]:
    """The three configs from the widgets, or every ConfigError keyed by its field name."""
    errors: dict[str, str] = {}
    kind = ss.train_kind
    model = _collect(ModelConfig, dict(kind=kind, arch=ss.train_arch, latent_dim=ss.train_latent_dim,
                                       likelihood=ss.train_likelihood, **preset_layers(ss.train_data, ss.train_arch)),
                     errors)
    train = _collect(TrainConfig, dict(epochs=ss.train_epochs, batch_size=ss.train_batch_size, lr=ss.train_lr,
                                       beta=ss.train_beta if kind == "vae" else 1.0,
                                       objective=ss.get("train_objective", "elbo") if kind == "vae" else "elbo",
                                       warmup_epochs=ss.train_warmup_epochs, seed=ss.train_seed), errors)
    try:
        data = DataConfig(name=_data_name(ss))
        if train is not None and train.batch_size > (n := train_size(json.dumps(data.to_dict(), sort_keys=True))):
            errors["batch_size"] = f"{train.batch_size} is larger than the training set ({n} images): use at most {n}"
    except ConfigError as e:
        errors[e.field] = e.message
    except DataError as e:
        errors["name"] = str(e)
    return errors, (model, train, data) if not errors else None


def preset_layers(data: str, arch: str) -> dict:
    """Layer sizes for a dataset that has a preset (shapes: a small conv net, see vae/shapes.py); else the defaults."""
    if data == "shapes" and arch == PRESET_MODEL["arch"]:
        return {"channels": PRESET_MODEL["channels"], "hidden": PRESET_MODEL["hidden"]}
    return {}


def apply_shapes_preset(data_key: str, widget_keys: dict[str, str]) -> None:
    """Choosing shapes fills in its preset (conv, z = 10, 20 epochs of batch 64: minutes on a laptop CPU).

    widget_keys maps preset fields (arch, latent_dim, epochs, batch_size) to the form's widget keys.
    """
    if st.session_state.get(data_key) == "shapes":
        preset = {**PRESET_MODEL, **PRESET_TRAIN}
        for name, key in widget_keys.items():
            st.session_state[key] = preset[name]


def _data_name(ss) -> str:
    if ss.train_data != UPLOAD:
        return ss.train_data
    upload = ss.get("train_upload")
    if upload is None:
        raise ConfigError("name", "choose an .npz file to upload (array 'x': N×H×W, optional labels 'y')")
    try:
        return str(save_dataset_upload(store(), upload.name, upload.getvalue()))
    except UploadError as e:
        raise DataError(str(e)) from e


def _start() -> None:
    ss = st.session_state
    errors, configs = _configs(ss)
    if configs:
        model, train, data = configs
        kind = "tcvae" if train.objective == "beta-tcvae" else model.kind
        name = ss.train_run_name.strip() or f"{Path(data.name).stem}-{kind}-z{model.latent_dim}" + (
            f"-b{train.beta:g}" if model.kind == "vae" else "")
        try:
            job = job_manager().submit(model, train, data, name, owner=owner_id())
            ss[JOB_KEY] = job.id
        except ConfigError as e:
            errors[e.field] = e.message
    ss[ERR_KEY] = errors


def train_form() -> None:
    """Dataset, model and optimisation settings, validated by the config dataclasses on Start."""
    c1, c2, c3 = st.columns(3)
    with c1:
        st.markdown("**Data**")
        choice = st.selectbox("Dataset", DATASETS, key="train_data", persist_state="session",
                              on_change=apply_shapes_preset, args=("train_data", TRAIN_PRESET_KEYS))
        if choice == UPLOAD:
            st.file_uploader("Images (.npz with x: N×H×W uint8 or floats in [0, 1]; optional y)", type=["npz"],
                             key="train_upload")
        elif choice in TORCHVISION and not (default_data_dir() / TORCHVISION[choice] / "raw").is_dir():
            st.caption(f"{choice} is downloaded on first use. Offline, the run fails with a message: "
                       "**digits** always works.")
        elif choice == "shapes":
            st.caption("32×32 shapes with 5 known factors (offline). Preset: conv net, z = 10, 20 epochs; see MIG "
                       "and factor traversals on the **Factors** page.")
        field_error("name")
        st.selectbox("Model", ["vae", "ae", "pca"], key="train_kind", persist_state="session",
                     format_func={"vae": "VAE", "ae": "Auto-encoder", "pca": "PCA (closed form)"}.get)
        field_error("kind")
        st.selectbox("Architecture", ["mlp", "conv"], key="train_arch", persist_state="session")
        field_error("arch")
    with c2:
        st.markdown("**Model**")
        vae = st.session_state.get("train_kind", "vae") == "vae"
        st.number_input("Latent dimensions", value=2, step=1, key="train_latent_dim", persist_state="session")
        field_error("latent_dim")
        st.selectbox("Objective", list(OBJECTIVE_LABELS), key="train_objective", persist_state="session",
                     format_func=OBJECTIVE_LABELS.get, disabled=not vae,
                     help="β-TCVAE (Chen et al., 2018) splits the KL into index-code MI, total correlation and "
                          "dimension-wise KL, and puts β on the total correlation only")
        field_error("objective")
        st.number_input("β (weight of the KL, or of its total correlation)", value=1.0, step=0.25, key="train_beta",
                        persist_state="session", disabled=not vae)
        field_error("beta")
        st.number_input("KL warm-up (epochs)", value=0.0, step=1.0, key="train_warmup_epochs", persist_state="session", disabled=not vae)
        field_error("warmup_epochs")
        st.selectbox("Likelihood", ["bernoulli", "gaussian"], key="train_likelihood", persist_state="session")
        field_error("likelihood")
    with c3:
        st.markdown("**Optimisation**")
        st.number_input("Epochs", value=30, step=10, key="train_epochs", persist_state="session")
        field_error("epochs")
        st.number_input("Batch size", value=128, step=32, key="train_batch_size", persist_state="session")
        field_error("batch_size")
        st.number_input("Learning rate", value=1e-3, step=1e-4, format="%.4f", key="train_lr", persist_state="session")
        field_error("lr")
        st.number_input("Seed", value=0, step=1, key="train_seed", persist_state="session")
        field_error("seed")
    a, b = st.columns([3, 1], vertical_alignment="bottom")
    a.text_input("Run name", key="train_run_name", persist_state="session", placeholder="automatic, e.g. digits-vae-z2-b1")
    b.button("Start training", type="primary", on_click=_start, key="train_start", width="stretch")
    field_error("run_name")
    if st.session_state.get(ERR_KEY):
        st.error("Fix the settings marked above, then start again.")
