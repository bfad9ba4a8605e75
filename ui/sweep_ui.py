"""β-sweep page helpers: the sweep form, its points, the clickable rate–distortion plane and per-β views; the
figures themselves are ui/sweep_figures.py."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.common import encode_test, load_model, load_split, md, mtime, set_current, store
from ui.latent_figures import latent_panels
from ui.images import display_png
from ui.factors import mig_of
from ui.jobs_ui import STATE_ICON, job_manager
from ui.train_form import OBJECTIVE_LABELS, apply_shapes_preset, preset_layers
from ui.owner import owner_id
from ui.seed_bands import OPENED_KEY
from ui.sweep_figures import rd_figure
from vae import explore
from vae.checkpoint import CheckpointError
from vae.config import ConfigError, DataConfig, ModelConfig, TrainConfig
from vae.data import BUILTIN
from vae.errors import VaeError
from vae.jobs import ACTIVE
from vae.runs import SWEEPS, UnknownCheckpoint
from vae.shapes import PRESET_MODEL, PRESET_TRAIN
from vae.sweep_points import trial_points

SWEEP_KEY = "beta_sweep"  # non-widget keys: they survive leaving the page
ERR_KEY = "beta_errors"
PLANE_KEY = "beta_plane"
DEFAULT_BETAS = "0.25, 0.5, 1, 2, 4, 8"
N_INPUTS = 10  # test images reconstructed by every β
MAP_LIM = 4.0  # latent maps share ±4 axes so the shrink toward N(0, I) is visible
DEMO_SWEEP = "Bundled demos (2-D VAEs on digits)"  # a ready-made sweep, so the page teaches before any run
SHAPES_DEMO_SWEEP = "Bundled demos (conv VAEs on shapes)"  # the disentanglement demos: MIG against β
TCVAE_DEMO_SWEEP = "Bundled demos (β-TCVAEs on shapes)"  # the same with β on the total correlation only
DEMO_SWEEPS = {DEMO_SWEEP: ("digits", "elbo"), SHAPES_DEMO_SWEEP: ("shapes", "elbo"),
               TCVAE_DEMO_SWEEP: ("shapes", "beta-tcvae")}  # sweep name -> (dataset, objective) of its demos
OBJECTIVE_SHORT = {"elbo": "β-VAE", "beta-tcvae": "β-TCVAE"}  # legend names beside a sweep's own MIG line
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


def demo_points(dataset: str = "digits", objective: str = "elbo") -> list[dict]:
    """Bundled VAE demos as finished sweep points: the 2-D digits VAEs (β = 1, 2, 4), or the shapes VAEs or
    β-TCVAEs (`objective`)."""
    out = []
    for ckpt_id, path, meta, _ in store().rows():
        if not ckpt_id.startswith("demo/"):
            continue
        model, train = (meta or {}).get("model") or {}, (meta or {}).get("train") or {}
        if model.get("kind") != "vae" or not meta.get("history") or (meta.get("data") or {}).get("name") != dataset:
            continue
        if (dataset == "digits" and model.get("latent_dim") != 2) or train.get("objective", "elbo") != objective:
            continue
        test = meta["history"][-1].get("test") or {}
        n = len(meta["history"])
        out.append({"beta": train.get("beta", 1.0), "state": "done", "message": "", "epoch": n, "epochs": n,
                    "fraction": 1.0, "path": str(path), "id": ckpt_id, "rate": test.get("kl"), "distortion": test.get("recon")})
    return sorted(out, key=lambda p: p["beta"])


def sweep_points(sweep: str) -> list[dict]:
    """One row per trial: state, progress, the latest test rate (KL) and distortion (recon) in nats per image, and
    MIG where the data has known factors (a CLI sweep's from its sweep.json, an app sweep's from each checkpoint)."""
    if sweep in DEMO_SWEEPS:
        return demo_points(*DEMO_SWEEPS[sweep])
    mgr, runs = job_manager(), store()
    jobs = mgr.jobs(sweep=sweep)
    if not jobs:  # a sweep made by `python -m vae sweep` (maybe on a cluster, copied in): its sweep.json lists trials
        return [{**p, "id": _id_or_none(runs, p["path"]), "mig": _cli_mig(p)}
                for p in trial_points(runs.runs_root / SWEEPS / sweep)]
    out, several = [], len({j.seed for j in jobs}) > 1
    for j in jobs:
        rows = mgr.history(j.id)
        test = (rows[-1].get("test") or {}) if rows else {}
        out.append({"beta": j.beta, "state": j.state, "message": j.message, "epoch": j.epoch, "epochs": j.epochs,
                    "fraction": j.fraction, "path": j.checkpoint, "id": j.id, "rate": test.get("kl"),
                    "distortion": test.get("recon"), "seed": j.seed if several else None,
                    "mig": mig_of(j.checkpoint) if j.state == "done" else None})  # None without factors; cached
    return out


def _cli_mig(p: dict) -> float | None:
    """sweep.json's MIG, or the checkpoint's where the file has none (a trial stopped after its last epoch but before
    its MIG was written is rebuilt from its checkpoint on resume), as the MIG plot beside the table measures it."""
    if p.get("mig") is not None or p["state"] != "done" or not p.get("path") or not Path(p["path"]).exists():
        return p.get("mig")
    return mig_of(p["path"])


def _id_or_none(runs, path: str) -> str | None:
    try:
        return runs.checkpoint_id(path)
    except UnknownCheckpoint:
        return None


def one_per_beta(points: list[dict]) -> list[dict]:
    """The lowest seed of each β: reconstructions and latent maps show one run per β, not every seed."""
    best: dict[float, dict] = {}
    for p in points:
        seed = p.get("seed") if p.get("seed") is not None else -1
        if p["beta"] not in best or seed < (best[p["beta"]].get("seed") if best[p["beta"]].get("seed") is not None else -1):
            best[p["beta"]] = p
    return [best[b] for b in sorted(best)]


def mig_references(sweep: str) -> dict[str, list[tuple[float, float]]]:
    """The bundled shapes demos of each objective, other than the sweep shown: β-VAE and β-TCVAE on one MIG plot."""
    out = {}
    for name, (dataset, objective) in DEMO_SWEEPS.items():
        if dataset == "shapes" and name != sweep:
            out[f"bundled {OBJECTIVE_SHORT[objective]} demos"] = mig_points(demo_points(dataset, objective))
    return out


def mig_points(points: list[dict]) -> list[tuple[float, float]]:
    """(β, MIG) of the finished runs whose dataset has known factors; empty when none has."""
    out = []
    for p in points:
        if p["state"] == "done" and p["path"] and Path(p["path"]).exists():
            mig = mig_of(p["path"])
            if mig is not None:
                out.append((p["beta"], mig))
    return out


def _on_select() -> None:
    """Copy the clicked point at once: the next redraw of the figure clears Plotly's selection."""
    pts = st.session_state[PLANE_KEY].selection.points
    if pts and pts[0].get("customdata"):
        ckpt_id = pts[0]["customdata"]
        ckpt_id = ckpt_id[0] if isinstance(ckpt_id, list) and ckpt_id else ckpt_id
        try:
            set_current(ckpt_id)  # an ID from the browser: resolved inside the store, never opened as a path
        except UnknownCheckpoint:
            return
        st.session_state[OPENED_KEY] = ckpt_id


def plane(points: list[dict]) -> None:
    st.plotly_chart(rd_figure(points), key=PLANE_KEY, on_select=_on_select, selection_mode="points")


def _ready(points: list[dict]) -> list[dict]:
    return one_per_beta([p for p in points if p["epoch"] >= 1 and Path(p["path"]).exists()])


@st.cache_data(max_entries=16, show_spinner=False)
def _recon_tiles(runs: tuple[tuple[str, float, float], ...]) -> list[tuple[str, bytes]]:
    """(label, PNG) rows for (path, mtime, β) runs: the inputs, then each β's reconstructions of them."""
    x = load_split(load_model(runs[0][0])).test.x[:N_INPUTS]  # (N, C, H, W); a sweep's runs share the split
    rows = [("input", x.numpy())]
    for path, _mt, beta in runs:
        try:
            rows.append((f"β={beta:g}", explore.reconstruct(load_model(path).model, x)))
        except CheckpointError:
            continue
    return [(label, display_png(explore.tile(imgs[None]), 48 * N_INPUTS)) for label, imgs in rows]


def recon_rows(points: list[dict]) -> None:
    """The same test images reconstructed by every β: detail fades as β buys a lower rate."""
    ready = _ready(points)
    if not ready:
        st.caption("Reconstructions appear after each run's first epoch.")
        return
    try:
        rows = _recon_tiles(tuple((p["path"], mtime(p["path"]), float(p["beta"])) for p in ready))
    except (VaeError, OSError, ValueError, TypeError) as e:  # a dataset that no longer loads must not break the page
        st.warning(f"Cannot show reconstructions: {md(e)}")
        return
    for label, png in rows:
        a, b = st.columns([1, 6], vertical_alignment="center")
        a.markdown(f"**{label}**")
        b.image(png, width="stretch")


def latent_maps(points: list[dict]) -> None:
    """Each β's 2-D map on the same axes: the clusters shrink into N(0, I) and merge as β grows."""
    ready = _ready(points)
    if not ready:
        return
    panels, other = [], []
    for p in ready:
        enc = encode_test(p["path"])
        (panels if enc["mu"].shape[1] == 2 else other).append((f"β={p['beta']:g}", enc["mu"], enc["y"]))
    if panels:  # one figure, one legend: a label clicked off in it goes off in every β's map
        st.plotly_chart(latent_panels(tuple(panels), lim=MAP_LIM, prior_circle=True), key="beta_maps")
    if other:
        st.caption(f"{', '.join(t for t, _, _ in other)}: a latent map needs a 2-D latent space")


COMPACT_ABOVE = 4  # trials; a β × seed grid gets one summary block instead of a coloured box per trial


def _trial_line(p: dict) -> str:
    seed = f", seed {p['seed']}" if p.get("seed") is not None else ""
    line = f"{STATE_ICON.get(p['state'], '')} β={p['beta']:g}{seed}: {p['state']}, epoch {p['epoch']}/{p['epochs']}"
    if p["state"] in ACTIVE and p["state"] != "queued":
        line += f" ({p['fraction']:.0%})"
    return line + (f". {md(p['message'])}" if p["state"] in ("failed", "diverged", "stopped") and p["message"] else "")


def _summary(points: list[dict]) -> None:
    """Exactly one element for a grid: the count per state, then a line for every trial that is not done."""
    counts: dict[str, int] = {}
    for p in points:
        counts[p["state"]] = counts.get(p["state"], 0) + 1
    head = f"**{len(points)} trials**: " + " · ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    rest = [_trial_line(p) for p in points if p["state"] != "done"]
    st.markdown("  \n".join([head, *rest]) + ("" if rest else "  \nEvery trial is done: the table below lists them."))


def progress_lines(points: list[dict]) -> None:
    """One element per β (the β page's poller draws them, so the count never changes for a sweep): a bar while it
    queues or trains, then its outcome; one caption when the sweep has no runs. A grid of more than COMPACT_ABOVE
    trials gets one summary element instead, whose text changes while its place in the page does not."""
    if not points:
        st.caption("No runs in this sweep yet.")
    if len(points) > COMPACT_ABOVE:
        _summary(points)
        return
    for p in points:
        seed = f", seed {p['seed']}" if p.get("seed") is not None else ""
        text = f"{STATE_ICON.get(p['state'], '')} β={p['beta']:g}{seed}: {p['state']}, epoch {p['epoch']}/{p['epochs']}"
        if p["state"] in ("failed", "diverged"):
            st.error(f"{text}. {md(p['message'])}")
        elif p["state"] == "stopped":
            st.warning(f"{text}. {md(p['message'])}")
        elif p["state"] == "done":
            st.success(text)
        else:
            st.progress(p["fraction"], text=text)


def points_signature(points: list[dict]) -> str:
    """What the views outside the poller are drawn from: each point's state and whether it has an epoch yet."""
    return ";".join(f"{p['beta']:g}:{p.get('seed')}:{p['state']}:{min(p['epoch'], 1)}" for p in points)
