"""Checkpoints: list demos and runs, upload (validated, never unpickled), download, rename, delete, open, run card."""

import pandas as pd
import streamlit as st

from ui.checkpoints_ui import MSG_KEY, PICK_KEY, delete_ui, manage_ui, upload_ui
from ui.common import checkpoint_rows, current_id, is_demo, label, load_model, md, open_id, runs_dir
from ui.notes import teaching_notes
from ui.onnx_ui import import_ui
from vae.analysis import listing_row
from vae.errors import VaeError
from vae.runs import RunStore

st.title("Checkpoints")
rows = checkpoint_rows()
cur = current_id()
try:
    teaching_notes("checkpoints", load_model(open_id(cur).path) if cur else None)
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
