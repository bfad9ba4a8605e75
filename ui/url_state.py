"""The view in the URL (st.query_params): a reload keeps your place, and a copied link opens the same view.

The URL holds only IDs and numbers, never a path: `ckpt` (a run-store ID such as demo/digits-3-vae) on every
page; on the Latent map `pt` (clicked test row), `z`, pins `a` and `b` (`i<row>` for a test image, or numbers), `proj`, `dx`, `dy`, named attribute vectors `vec` (ui/attribute_link.py);
`cmp` on Compare, `job` on Train, `pick` on Checkpoints. Everything read from a URL is checked against what
exists here (IDs in the store, rows in the test set, one number per latent dimension, finite and bounded); a
value that fails is dropped and the page says so, the rest of the link still applies.

`restore` runs at the top of every script run and applies the URL only when it differs from what this session
last wrote (a reload, a shared link, an edited address); `write` runs after the page (and after the map's
fragment) and mirrors the session's view into the URL.
"""

from __future__ import annotations

import math
import re

import numpy as np
import streamlit as st

from ui.common import STATE_KEY, current_id, current_path, encode_test, label, load_model, md, store
from vae.errors import VaeError
from vae.explore import Z_LIMIT

PAGE_KEY, LAST_KEY, NOTICE_KEY = "url_page", "url_last", "url_notices"
WRITTEN_KEY = "url_written"  # the URLs this session wrote on the page it is on, newest last
WRITTEN_KEPT = 8
MAP_PAGE = "latent_map"
COMPARE_KEY = "compare_ids"  # pages/compare.py SEL_KEY: the compared IDs, a non-widget key
JOB_KEY = "train_job"  # ui/jobs_ui.py JOB_KEY
PICK_KEY = "ckpts_pick"  # pages/checkpoints.py PICK_KEY
JOB_RE = re.compile(r"^[A-Za-z0-9._\-/]{1,160}$")
MAX_VALUE_CHARS = 4000  # z of a 512-D model at 7 characters a number fits; anything longer is refused unread
PROJECTIONS = ("dims", "pca", "tsne")


def page_id(page) -> str:
    """The URL name of an st.navigation page ('' is the default page, the Latent map)."""
    return page.url_path or MAP_PAGE


# ---- parsing (pure; every function returns None for anything it does not accept) -------------------------------


def parse_id(text: str | None) -> str | None:
    return text if text and store().exists(text) else None  # the store checks the ID's form, then its folders


def parse_int(text: str | None, lo: int, hi: int) -> int | None:
    """An integer in [lo, hi)."""
    if not text or len(text) > 12 or not re.fullmatch(r"-?\d+", text):
        return None
    v = int(text)
    return v if lo <= v < hi else None


def parse_z(text: str | None, d: int) -> list[float] | None:
    """Exactly d comma-separated finite numbers, each within ±Z_LIMIT."""
    if not text or len(text) > MAX_VALUE_CHARS:
        return None
    parts = text.split(",")
    if len(parts) != d:
        return None
    try:
        z = [float(p) for p in parts]
    except ValueError:
        return None
    return z if all(math.isfinite(v) and abs(v) <= Z_LIMIT for v in z) else None


def format_z(z) -> str:
    return ",".join(f"{float(v):.4g}" for v in z)


# ---- restore ----------------------------------------------------------------------------------------------------


def _url() -> dict[str, str]:
    return {k: st.query_params.get(k) for k in st.query_params}


def restore(page: str) -> None:
    """Apply the URL to the session when it names a view this session has not written itself."""
    ss = st.session_state
    if ss.get(PAGE_KEY) != page:  # a page switch (a sidebar link or a link with a view): its URL is new intent
        ss[WRITTEN_KEY] = []
    ss[PAGE_KEY] = page
    url = _url()
    # Our own URL, or a bare one (e.g. after a sidebar page switch). A URL this session wrote a moment ago also
    # counts as ours: a click that leaves the browser before it has applied the latest write carries the one
    # before, and applying that would switch the Train page back to the previous run.
    if url == ss.get(LAST_KEY) or not url or url in ss.get(WRITTEN_KEY, []):
        return
    notes: list[str] = []
    if "ckpt" in url:
        cid = parse_id(url["ckpt"])
        if cid:
            ss[STATE_KEY] = cid
        else:
            notes.append(f"the link's checkpoint {url['ckpt'][:80]!r} is not here, so the page shows "
                         f"{label(current_id()) if current_id() else 'none'}")
    if page == MAP_PAGE:
        try:
            _restore_map(url, notes)
        except (VaeError, ValueError, OSError):  # the page itself says why it cannot
            notes.append("the view in the link could not be restored: its checkpoint cannot be opened")  # open it
    elif page == "compare" and "cmp" in url:
        ids = [parse_id(t) for t in url["cmp"].split(",")[:4]] if len(url["cmp"]) < 1000 else [None]
        if ids and all(ids):
            ss[COMPARE_KEY] = ids
            ss.pop("compare_select", None)  # the page refills its widget from COMPARE_KEY
        else:
            notes.append("some checkpoints named in the link are not here; pick them again")
    elif page == "train" and "job" in url:
        job = url["job"]
        if JOB_RE.match(job or "") and ".." not in job.split("/") and _job_exists(job):
            ss[JOB_KEY] = job
        else:
            notes.append("the run named in the link is not on this server")
    elif page == "checkpoints" and "pick" in url and (cid := parse_id(url["pick"])) is not None:
        ss[PICK_KEY] = cid
    ss[LAST_KEY] = url
    if notes:
        ss[NOTICE_KEY] = notes


def _job_exists(job_id: str) -> bool:
    from ui.jobs_ui import job_manager

    return any(j.id == job_id for j in job_manager().jobs())


def _restore_map(url: dict[str, str], notes: list[str]) -> None:
    from ui import latent as L

    path = current_path()
    if path is None or not (set(url) & {"pt", "z", "a", "b", "proj", "dx", "dy", "vec"}):
        return
    ss, path = st.session_state, str(path)
    d = load_model(path).model.config.latent_dim
    mu = encode_test(path)["mu"]
    n = len(mu)
    L.sync_state(path, d)  # a new checkpoint starts clean before the link's values go in
    bad = []
    row = parse_int(url.get("pt"), 0, n) if "pt" in url else None
    if "pt" in url and row is None:
        bad.append("pt")
    z = parse_z(url.get("z"), d) if "z" in url else None
    if "z" in url and z is None:
        bad.append("z")
    if row is not None:
        ss[L.K_POINT] = row
    if z is not None or row is not None:
        L.set_z(z if z is not None else mu[row])
    for key, name in ((L.K_A, "a"), (L.K_B, "b")):
        if name not in url:
            continue
        text = url[name]
        pin_row = parse_int(text[1:], 0, n) if text[:1] in ("i", "#") else None  # '#' only from hand-typed links
        pin_z = parse_z(text, d) if pin_row is None else None
        if pin_row is not None:
            ss[key] = {"z": [float(v) for v in mu[pin_row]], "label": f"test #{pin_row}"}
        elif pin_z is not None:
            ss[key] = {"z": pin_z, "label": "chosen z"}
        else:
            bad.append(name)
    if d > 2:
        if "proj" in url:
            if url["proj"] in PROJECTIONS:
                ss["map_method"] = url["proj"]
            else:
                bad.append("proj")
        for key, name in ((L.K_DX, "dx"), (L.K_DY, "dy")):
            if name in url:
                v = parse_int(url[name], 0, d)
                if v is None:
                    bad.append(name)
                else:
                    ss[key] = v
    from ui import attribute_link  # issue 20: named attribute vectors (`vec`)

    attribute_link.restore_url(url, d, bad)
    if bad:
        notes.append(f"ignored the link's {', '.join(bad)}: not valid for this {d}-D checkpoint "
                     f"with {n} test images")


def show_notices() -> None:
    """What a link asked for that could not be shown, once, escaped (the text quotes the URL)."""
    for note in st.session_state.pop(NOTICE_KEY, []):
        st.warning(f"From the link: {md(note)}.", icon="🔗")


# ---- write ------------------------------------------------------------------------------------------------------


def wanted() -> dict[str, str]:
    """The session's view as query parameters."""
    ss = st.session_state
    page = ss.get(PAGE_KEY)
    want: dict[str, str] = {}
    if cid := current_id():
        want["ckpt"] = cid
    if page == MAP_PAGE:
        want.update(_map_params())
    elif page == "compare" and ss.get(COMPARE_KEY):
        want["cmp"] = ",".join(ss[COMPARE_KEY])
    elif page == "train" and ss.get(JOB_KEY):
        want["job"] = ss[JOB_KEY]
    elif page == "checkpoints" and ss.get(PICK_KEY):
        want["pick"] = ss[PICK_KEY]
    return want


def _map_params() -> dict[str, str]:
    from ui import latent as L

    ss, out = st.session_state, {}
    path = ss.get(L.K_FOR)
    if not path or str(current_path()) != path or ss.get(L.K_Z) is None:
        return out
    mu = encode_test(path)["mu"]
    row = ss.get(L.K_POINT)
    z = np.asarray(ss[L.K_Z], dtype=np.float64)
    if row is not None and 0 <= row < len(mu):
        out["pt"] = str(int(row))
    if row is None or not np.allclose(mu[row], z, atol=1e-4):
        out["z"] = format_z(z)
    for key, name in ((L.K_A, "a"), (L.K_B, "b")):
        pin = ss.get(key)
        if pin:
            lab = str(pin.get("label", ""))
            out[name] = "i" + lab[6:] if lab.startswith("test #") else format_z(pin["z"])  # no '#': it ends a URL
    for key, name in (("map_method", "proj"), (L.K_DX, "dx"), (L.K_DY, "dy")):
        if ss.get(key) is not None:
            out[name] = str(ss[key])
    from ui import attribute_link

    out.update(attribute_link.url_params())
    return out


def write() -> None:
    """Mirror the view into the URL (only when it changed: each write is a message to the browser)."""
    want = wanted()
    if want != _url():
        st.query_params.from_dict(want)
    ss = st.session_state
    ss[LAST_KEY] = want
    written = [u for u in ss.get(WRITTEN_KEY, []) if u != want]
    ss[WRITTEN_KEY] = (written + [want])[-WRITTEN_KEPT:]
