"""Checkpoints: list demos and runs, upload (validated, never unpickled), download, rename, delete, open, run card."""

import json
from pathlib import Path

import pandas as pd
import streamlit as st

from ui.common import (STATE_KEY, checkpoint_rows, current_id, is_demo, label, load_model, md, resolve, runs_dir,
                       set_current, store)
from ui.notes import teaching_notes
from ui.onnx_ui import import_ui
from vae.analysis import listing_row, run_card
from vae import settings
from vae.errors import VaeError
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


st.title("Checkpoints")
rows = checkpoint_rows()
cur = current_id()
try:
    teaching_notes("checkpoints", load_model(resolve(cur)) if cur else None)
except VaeError:  # a broken current file is listed below with its problem; the notes just lose live numbers
    teaching_notes("checkpoints")
if (msg := st.session_state.pop(MSG_KEY, None)) is not None:
    getattr(st, msg[0])(msg[1])  # (level, text)

table = pd.DataFrame([listing_row(p, m, e and f"invalid: {e}", where=RunStore.kind(i)) for i, p, m, e in rows])
if table.empty:
    st.info("No checkpoints yet. Train one on the **Train** page, or upload one below.")
else:
    if table["problem"].isna().all():
        table = table.drop(columns="problem")
    else:  # beside the name: an invalid file's other columns are empty, and its reason must not sit off-screen
        table.insert(1, "problem", table.pop("problem").fillna(""))
    for col in {"β", "epochs", "test recon", "test KL", "test ELBO", "size (KB)"} & set(table):  # text: the browser's
        table[col] = ["—" if pd.isna(v) else f"{v:{'g' if col in ('β', 'epochs') else '.2f'}}" for v in table[col]]  # grid shows None
    st.dataframe(table.style.format(na_rep="—"), hide_index=True,
                 column_config={"problem": st.column_config.TextColumn(width="large")})
    st.caption("Final test metrics in nats per image (ELBO = −(recon + KL), higher is better). Runs are kept in "
               f"`{runs_dir()}`.")

st.subheader("Upload")
upload_ui()
st.subheader("Import your own VAE from ONNX")
import_ui(on_done=lambda ckpt_id: st.session_state.__setitem__(PICK_KEY, ckpt_id))

listed = {r.id: r for r in checkpoint_rows()}  # invalid files too: they must stay deletable
if listed:
    st.subheader("Manage")
    if st.session_state.get(PICK_KEY) not in listed:
        st.session_state[PICK_KEY] = cur if cur in listed else next(iter(listed))
    pick = st.selectbox("Checkpoint", list(listed), key=PICK_KEY,
                        format_func=lambda i: label(i) + ("" if listed[i].meta is not None else " (invalid)"))
    row = listed[pick]
    if row.meta is not None:
        manage_ui(pick, row.path, row.meta)
    else:  # a file that fails the checks can never be opened: its reason, and Delete
        st.error(f"invalid: {md(row.error)}")
        if not is_demo(pick):  # (a statement: Streamlit's magic would print the value of an expression)
            delete_ui(pick, row.path.stem)
