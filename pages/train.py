"""Train page: a form that queues a background run, live curves while it trains, and everyone's recent runs."""

import streamlit as st

from ui.common import load_model, opened
from ui.jobs_ui import job_manager, live_area, pick_job
from ui.train_form import train_form
from ui.notes import teaching_notes
from vae.checkpoint import CheckpointError

st.title("Train a model")
st.caption("Runs train in the background: leave this page, reload, or close the tab; the run goes on, and it is "
           "listed below. Every epoch writes a checkpoint, so stopping keeps the last finished epoch.")

mgr = job_manager()
job_id = pick_job(mgr)
ckpt = None
if (found := opened(job_id)) is not None:  # a job's ID is its checkpoint's: not written until its first epoch ends
    try:
        ckpt = load_model(found.path)
    except CheckpointError:  # a run's first epoch still being written
        ckpt = None
teaching_notes("train", ckpt)

with st.expander("New run", expanded=job_id is None):
    train_form()

live_area(job_id)  # the run (live while it trains) and the recent runs, read together
