"""The Compare page's metrics table: each checkpoint's figures first, under a progress bar, the IWAE NLL filled in last.

The IWAE NLL is the slow figure (k samples of every test image through every decoder). The table shows without it
(or with the figure the run store already keeps), the rest of the page draws, and then `fill_iwae` computes what is
missing, under its own progress bar, and redraws the table as each checkpoint's figure arrives.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from ui.common import load_model, load_split_by_key, mtime, store
from ui.compare_ui import encode_on
from vae import iwae_budget, settings
from vae.runs import RunStore

IWAE_ROW = "IWAE NLL (nats)"
METRICS = [("recon", "recon (nats)"), ("kl", "KL (nats)"), ("elbo", "ELBO (nats)"), ("iwae", IWAE_ROW),
           ("active_units", "active units")]
MIG_ROW = ("mig", "MIG (0–1)")
PENDING = "computing…"  # the IWAE cell of a checkpoint whose figure is on its way


@st.cache_data(max_entries=32, show_spinner=False)  # evaluate_all shows the progress
def _evaluate(path: str, mtime_s: float, split: str, k: int, seed: int) -> dict:
    from vae.metrics import evaluate, factor_scores, kl_per_dim

    model = load_model(path).model
    test = load_split_by_key(split).test
    x = test.x  # (N, C, H, W)
    mu, logvar = encode_on(path, split)  # encoded once: the columns' latent maps below use the same codes
    out = evaluate(model, x, iwae_k=k, seed=seed, codes=(mu, logvar))
    out["kl_per_dim"] = kl_per_dim(mu, logvar).tolist()
    # MIG (Chen et al., 2018) where the dataset has known factors (shapes) and the code at least 2 dims
    out["mig"] = (factor_scores(mu, test.factors.numpy(), test.factor_names).mig
                  if test.factors is not None and mu.shape[1] >= 2 else None)
    return out


def evaluate_on(path: str | Path, split: str, k: int = 0, seed: int = 0) -> dict:
    """vae.metrics.evaluate on a test split (IWAE only if k > 0), cached by path + mtime (a retrained file is new)."""
    return _evaluate(str(path), mtime(path), split, k, seed)


def evaluate_all(files: dict[str, str], split: str, seed: int, slot) -> dict[str, dict]:
    """The first table's figures of every checkpoint (no IWAE), with a progress bar in `slot` while they compute."""
    out = {}
    for i, (ckpt_id, path) in enumerate(files.items()):
        slot.progress(i / len(files), text=f"Evaluating {RunStore.stem(ckpt_id)} ({i + 1} of {len(files)})…")
        out[ckpt_id] = evaluate_on(path, split, seed=seed)
    slot.empty()
    return out


def kept_iwae(files: dict[str, str], split: str, seed: int) -> dict[str, iwae_budget.IwaeFigure | str | None]:
    """Each checkpoint's IWAE figure as the run store keeps it, PENDING if not yet computed, None without a prior."""
    runs = store()
    return {ckpt_id: (iwae_budget.read_kept(runs, path, split, seed) or PENDING)
            if load_model(path).model.generative else None for ckpt_id, path in files.items()}


def _has_mig(evals: dict[str, dict]) -> bool:
    return any(e.get("mig") is not None for e in evals.values())  # shapes only


def metrics_table(evals: dict[str, dict], iwae: dict) -> pd.DataFrame:
    """Checkpoints as columns, figures as rows; '–' where a model has no such figure (no prior: no KL, no IWAE)."""
    rows = METRICS + ([MIG_ROW] if _has_mig(evals) else [])

    def cell(ckpt_id: str, key: str) -> str:
        if key == "iwae":
            v = iwae[ckpt_id]
            return "–" if v is None else v if isinstance(v, str) else v.shown()
        v = evals[ckpt_id].get(key)
        return "–" if v is None else f"{v:.3f}" if key == "mig" else str(v) if key == "active_units" else f"{v:.2f}"

    return pd.DataFrame({RunStore.stem(c): [cell(c, k) for k, _ in rows] for c in evals}, index=[n for _, n in rows])


def table_caption(evals: dict[str, dict], seed: int) -> str:
    n = next(iter(evals.values()))["n"]
    return (f"On {n} test images, nats per image, seed {seed}. ELBO = −(recon + KL), higher is better. IWAE NLL "
            f"uses k importance samples per image, shown in each cell: as many as fit in "
            f"{settings.IWAE_SECONDS.shown()} on this server, at most {settings.IWAE_MAX_K.value()}; lower is better, "
            "and each checkpoint's figure is computed once and kept. '–': the model has no prior (PCA, AE)."
            + (" MIG: 1 when each known factor lives in one dim of its own (see Factors)." if _has_mig(evals) else ""))


def fill_iwae(table_slot, progress_slot, files: dict[str, str], evals: dict[str, dict], iwae: dict, split: str,
              seed: int) -> None:
    """Compute the IWAE figures still PENDING, one checkpoint at a time, redrawing the table after each."""
    pending = [c for c, v in iwae.items() if isinstance(v, str)]
    if not pending:
        return
    x = load_split_by_key(split).test.x  # (N, C, H, W)
    for i, ckpt_id in enumerate(pending):
        text = f"IWAE NLL of {RunStore.stem(ckpt_id)} ({i + 1} of {len(pending)})…"
        bar = progress_slot.progress(0.0, text=text)
        def on_batch(done: int, total: int, bar=bar, text=text) -> None:
            bar.progress(done / total, text)

        iwae[ckpt_id] = iwae_budget.compute(store(), files[ckpt_id], load_model(files[ckpt_id]).model, x, split,
                                            seed=seed, on_batch=on_batch)
        table_slot.dataframe(metrics_table(evals, iwae))
    progress_slot.empty()
