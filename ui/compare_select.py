"""Which checkpoints Compare shows: the picker, the tutorial-ladder button, and the page's `cmp` URL parameter."""

from __future__ import annotations

import streamlit as st

from ui import url_state as U
from ui.common import checkpoint_rows, label, store

SEL_KEY = "compare_ids"  # checkpoint IDs; a non-widget key, so the selection survives leaving the page
WIDGET_KEY = "compare_select"
LADDER = ["digits-1-pca", "digits-2-ae", "digits-3-vae", "digits-4-beta2-vae"]


def _use_ladder(ids: list[str]) -> None:
    st.session_state[SEL_KEY] = st.session_state[WIDGET_KEY] = ids


def _keep_selection() -> None:
    st.session_state[SEL_KEY] = list(st.session_state[WIDGET_KEY])


def selection_ui() -> list[str]:
    runs = store()
    options = [r.id for r in checkpoint_rows() if r.meta is not None]
    saved = [i for i in st.session_state.get(SEL_KEY, []) if runs.exists(i)]
    options += [i for i in saved if i not in options]
    if WIDGET_KEY not in st.session_state:  # restore after navigation without passing a default as well
        st.session_state[WIDGET_KEY] = saved
    ladder = [f"demo/{n}" for n in LADDER]
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    c1.multiselect("Checkpoints to compare (2–4)", options, format_func=label, max_selections=4, key=WIDGET_KEY,
                   on_change=_keep_selection)
    c2.button("PCA → AE → VAE → β-VAE", key="compare_ladder", on_click=_use_ladder, args=(ladder,),
              disabled=not all(runs.exists(i) for i in ladder), icon="🪜",
              help="The tutorial ladder, from the bundled demos: " + ", ".join(LADDER))
    st.caption("The ladder's β-VAE uses β = 2: on 64-pixel digits β ≥ 3 already collapses the posterior (KL ≈ 0); "
               "the β = 4 demo shows that collapse.")
    return list(st.session_state[WIDGET_KEY])


# ---- the URL (registered by ui/links.py) -------------------------------------------------------------------------


def from_url(url: dict[str, str], notes: list[str]) -> None:
    """`cmp`: up to four checkpoint IDs, each of which must be in the store, or none is taken."""
    if "cmp" not in url:
        return
    ids = [U.parse_id(t) for t in url["cmp"].split(",")[:4]] if len(url["cmp"]) < 1000 else [None]
    if ids and all(ids):
        st.session_state[SEL_KEY] = ids
        st.session_state.pop(WIDGET_KEY, None)  # the page refills its widget from SEL_KEY
    else:
        notes.append("some checkpoints named in the link are not here; pick them again")


def to_url() -> dict[str, str]:
    ids = st.session_state.get(SEL_KEY)
    return {"cmp": ",".join(ids)} if ids else {}
