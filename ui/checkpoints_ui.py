"""The Checkpoints page's actions: open, rename, delete, upload (each a callback that leaves one message), and
the page's `pick` URL parameter."""

import json
from pathlib import Path

import streamlit as st

from ui import url_state as U
from ui.common import STATE_KEY, current_id, is_demo, label, md, set_current, store
from vae import settings
from vae.analysis import run_card
from vae.runs import RunStore, RunStoreError, UnknownCheckpoint
from vae.uploads import UploadError, save_checkpoint_upload

PICK_KEY = "ckpts_pick"
MSG_KEY = "ckpts_message"  # (level, text) from the last action, shown once
UPLOADS_KEY = "ckpts_uploads"  # file_id -> outcome, so a rerun never stores the same upload twice


def _say(level: str, text: str) -> None:
    st.session_state[MSG_KEY] = (level, text)


def _open(ckpt_id: str) -> None:
    try:
        set_current(ckpt_id)
    except UnknownCheckpoint as e:
        return _say("error", f"Cannot open: {md(e)}")
    _say("success", f"Opened {label(ckpt_id)}: every page now shows it.")


def _forget_upload_messages() -> None:  # a rename or delete changes the file an upload's success line names
    st.session_state[UPLOADS_KEY] = {k: ("caption", "") for k in st.session_state.get(UPLOADS_KEY, {})}


def _rename(ckpt_id: str) -> None:
    _forget_upload_messages()
    try:
        dest = store().rename(ckpt_id, st.session_state.get("ckpts_new_name", ""))
    except RunStoreError as e:
        return _say("error", f"Cannot rename: {md(e)}")
    if st.session_state.get(STATE_KEY) == ckpt_id:
        set_current(dest)
    st.session_state[PICK_KEY] = dest
    _say("success", f"Renamed to {label(dest)}.")


def _delete(ckpt_id: str) -> None:
    _forget_upload_messages()
    try:
        store().delete(ckpt_id)
    except RunStoreError as e:
        return _say("error", f"Cannot delete: {md(e)}")
    if st.session_state.get(STATE_KEY) == ckpt_id:
        st.session_state.pop(STATE_KEY)
    st.session_state.pop(PICK_KEY, None)
    _say("success", f"Deleted {label(ckpt_id)} and its log.")


def upload_ui() -> None:
    limit_mb = max(1, settings.UPLOAD_SIZE.value() // 1024**2)
    up = st.file_uploader("Upload a checkpoint (.safetensors)", key="ckpts_upload", max_upload_size=limit_mb,
                          help=f"At most {limit_mb} MB. It is checked in full before it is kept.")
    st.caption(".pt / .pth / .ckpt files are Python pickles, which can run code when opened: refused, never loaded.")
    if up is None:
        return
    done = st.session_state.setdefault(UPLOADS_KEY, {})
    if up.file_id not in done:
        try:
            dest = save_checkpoint_upload(store(), up.name, up.getvalue())
        except UploadError as e:
            done[up.file_id] = ("error", f"Upload refused: {md(e)}")
        else:
            done[up.file_id] = ("success", f"Uploaded **{md(up.name)}** as **{md(RunStore.stem(dest))}** in your runs.")
            st.session_state[PICK_KEY] = dest
            st.rerun()  # redraw the table above with the new run in it
    level, text = done[up.file_id]
    getattr(st, level)(text)


def delete_ui(ckpt_id: str, stem: str) -> None:
    d1, d2 = st.columns([3, 1], vertical_alignment="bottom")
    sure = d1.checkbox(f"Yes, delete {md(stem)} and its log for good", key="ckpts_confirm")
    d2.button("Delete", key="ckpts_delete", on_click=_delete, args=(ckpt_id,), disabled=not sure)


def manage_ui(ckpt_id: str, path: Path, meta: dict) -> None:
    c1, c2, c3 = st.columns(3)
    c1.button("Open", key="ckpts_open", on_click=_open, args=(ckpt_id,), type="primary",
              disabled=current_id() == ckpt_id, help="Make this the current checkpoint on every page")
    c2.download_button("Download .safetensors", path.read_bytes(), file_name=path.name,
                       mime="application/octet-stream", key="ckpts_download")
    card = run_card(meta, name=path.stem)
    c3.download_button("Download run card (JSON)", json.dumps(card, indent=2), file_name=f"{path.stem}.json",
                       mime="application/json", key="ckpts_card_download")
    st.json(card, expanded=1)
    if is_demo(ckpt_id):
        st.caption("Bundled demos are protected: they cannot be renamed or deleted.")
        return
    r1, r2 = st.columns([3, 1], vertical_alignment="bottom")
    r1.text_input("New name", value=path.stem, key="ckpts_new_name", max_chars=64)
    r2.button("Rename", key="ckpts_rename", on_click=_rename, args=(ckpt_id,))
    delete_ui(ckpt_id, path.stem)


# ---- the URL (registered by ui/links.py) -------------------------------------------------------------------------


def from_url(url: dict[str, str], notes: list[str]) -> None:
    """`pick`: the checkpoint the Manage box shows; one that is not here is simply not picked."""
    if "pick" in url and (cid := U.parse_id(url["pick"])) is not None:
        st.session_state[PICK_KEY] = cid


def to_url() -> dict[str, str]:
    pick = st.session_state.get(PICK_KEY)
    return {"pick": pick} if pick else {}
