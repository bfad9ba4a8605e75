"""The sidebar every page shows (app.py draws it): the current-checkpoint picker and the checkpoint's key facts."""

from __future__ import annotations

import streamlit as st

from ui.common import checkpoint_rows, current_id, label, load_model, md, resolve, set_current
from vae.analysis import model_kind
from vae.checkpoint import Checkpoint
from vae.errors import VaeError

SIDEBAR_CHARS = 26  # names longer than this are cut in the sidebar's picker


def checkpoint_facts(ckpt: Checkpoint) -> dict[str, str]:
    cfg, tc, h = ckpt.model_config, ckpt.train_config, ckpt.history
    last = h[-1] if h else {}
    test = last.get("test") or {}
    facts = {
        "dataset": f"{md(ckpt.data.get('name', '?'))} {tuple(ckpt.data.get('shape', ()))}",
        "model": " · ".join([model_kind(cfg.kind, tc.objective if tc else None)] + ([cfg.arch] if cfg.kind != "pca" else [])
                            + [f"z={cfg.latent_dim}"]),
        "β": f"{tc.beta:g}" if tc and cfg.kind == "vae" else "–",
        "epochs": "–" if cfg.arch == "imported" else str(len(h)),  # trained elsewhere; its one entry is the import's
    }
    if cfg.kind == "vae" and test.get("elbo") is not None:
        facts["test ELBO"] = f"{test['elbo']:.2f} nats"
    elif test.get("recon") is not None:
        facts["test recon"] = f"{test['recon']:.2f} nats"
    return facts


def sidebar() -> None:
    """Checkpoint picker and key facts; rendered by app.py on every page."""
    ids = [r.id for r in checkpoint_rows() if r.meta is not None]
    cur = current_id()
    if cur is not None and cur not in ids:  # e.g. a run whose metadata is invalid, opened by ID
        ids.insert(0, cur)
    with st.sidebar:
        st.markdown("### Checkpoint")
        if not ids:
            st.caption("No checkpoints found.")
            return
        # the session key is the one truth: pages change it with set_current, the picker only through its
        # callback, so a stale widget value can never undo a page's choice
        st.session_state["sidebar_ckpt"] = cur if cur in ids else ids[0]
        choice = st.selectbox("Current checkpoint", ids, format_func=label, key="sidebar_ckpt",
                              label_visibility="collapsed",
                              on_change=lambda: set_current(st.session_state["sidebar_ckpt"]))
        if len(label(choice)) > SIDEBAR_CHARS:  # the picker cuts long names: the full one, wrapped, below it
            st.caption(label(choice))
        try:
            ckpt = load_model(resolve(choice))
        except VaeError as e:
            st.error(md(e))
            return
        st.markdown("\n".join(f"- **{k}**: {v}" for k, v in checkpoint_facts(ckpt).items()))
