"""Train page: a form that queues a background run, live curves while it trains, and everyone's recent runs."""

from pathlib import Path

import streamlit as st

from ui.common import load_model
from ui.jobs_ui import job_manager, live_area, pick_job, train_form
from ui.notes import teaching_notes
from vae.checkpoint import CheckpointError

st.title("Train a model")
st.caption("Runs train in the background: leave this page, reload, or close the tab; the run goes on, and it is "
           "listed below. Every epoch writes a checkpoint, so stopping keeps the last finished epoch.")

mgr = job_manager()
job_id = pick_job(mgr)
ckpt = None
if job_id is not None:
    path = Path(mgr.status(job_id).checkpoint)
    try:
        ckpt = load_model(path) if path.exists() else None
    except CheckpointError:
        ckpt = None
teaching_notes("train", ckpt)

with st.expander("New run", expanded=job_id is None):
    train_form()

live_area(job_id)  # the run (live while it trains) and the recent runs, read together
