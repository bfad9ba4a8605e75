"""Which page keeps what in the URL: each page's parameters, registered with the generic ui/url_state.py.

The Latent map's live with its state (ui/map/state.py). Compare, Train and Checkpoints keep one ID each; their
pages are scripts that cannot be imported, so their handlers are here, next to the keys the pages read.
app.py calls `register` before the first restore.
"""

from __future__ import annotations

import re

import streamlit as st

from ui import url_state as U
from ui.jobs_ui import JOB_KEY, job_manager
from ui.map import state as map_state

COMPARE_KEY, COMPARE_WIDGET = "compare_ids", "compare_select"  # pages/compare.py SEL_KEY, WIDGET_KEY
PICK_KEY = "ckpts_pick"  # pages/checkpoints.py PICK_KEY
JOB_RE = re.compile(r"^[A-Za-z0-9._\-/]{1,160}$")


def _compare_restore(url: dict[str, str], notes: list[str]) -> None:
    if "cmp" not in url:
        return
    ids = [U.parse_id(t) for t in url["cmp"].split(",")[:4]] if len(url["cmp"]) < 1000 else [None]
    if ids and all(ids):
        st.session_state[COMPARE_KEY] = ids
        st.session_state.pop(COMPARE_WIDGET, None)  # the page refills its widget from COMPARE_KEY
    else:
        notes.append("some checkpoints named in the link are not here; pick them again")


def _train_restore(url: dict[str, str], notes: list[str]) -> None:
    if "job" not in url:
        return
    job = url["job"]
    if JOB_RE.match(job or "") and ".." not in job.split("/") and any(j.id == job for j in job_manager().jobs()):
        st.session_state[JOB_KEY] = job
    else:
        notes.append("the run named in the link is not on this server")


def _pick_restore(url: dict[str, str], notes: list[str]) -> None:
    if "pick" in url and (cid := U.parse_id(url["pick"])) is not None:
        st.session_state[PICK_KEY] = cid


def _one(param: str, key: str):
    """params() of a page whose view is one session value (a list of IDs is joined with commas)."""

    def params() -> dict[str, str]:
        v = st.session_state.get(key)
        return {param: ",".join(v) if isinstance(v, list) else v} if v else {}

    return params


def register() -> None:
    U.register(U.MAP_PAGE, U.Link(map_state.from_url, map_state.to_url))
    U.register("compare", U.Link(_compare_restore, _one("cmp", COMPARE_KEY)))
    U.register("train", U.Link(_train_restore, _one("job", JOB_KEY)))
    U.register("checkpoints", U.Link(_pick_restore, _one("pick", PICK_KEY)))
