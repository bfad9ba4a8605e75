"""β page: sweep β in the background and watch rate and distortion trade off (Alemi et al., "Fixing a Broken ELBO")."""

import streamlit as st

from ui.common import label, load_model, opened
from ui.jobs_ui import job_manager
from ui.live import poller, request_page_rerun
from ui.notes import teaching_notes
from ui.seed_bands import several_seeds, trials_table
from ui.sweep_figures import mig_figure
from ui.sweep_ui import (DEMO_SWEEP, DEMO_SWEEPS, OPENED_KEY, SWEEP_KEY, demo_points, latent_maps, mig_points,
                         mig_references, plane, points_signature, progress_lines, recon_rows, sweep_form, sweep_points)
from vae.checkpoint import CheckpointError
from vae.jobs import ACTIVE

POLL_S = 1.0  # the progress table; the views below it redraw when a point finishes

st.title("β sweep: rate against distortion")
st.caption("One VAE per β, same data, seed and architecture. Larger β charges more for every nat of KL (rate), so "
           "the code carries less about x and reconstructions get worse (distortion). Runs queue in the background.")

mgr = job_manager()
sweeps = mgr.sweeps()
with st.expander("New sweep", expanded=not sweeps):
    sweep_form()
sweeps = mgr.sweeps()  # the form's callback may just have added one
names = [s["name"] for s in sweeps] + [DEMO_SWEEP] + [n for n in DEMO_SWEEPS if n != DEMO_SWEEP
                                                      and demo_points(*DEMO_SWEEPS[n])]
if st.session_state.get(SWEEP_KEY) not in names:
    st.session_state[SWEEP_KEY] = names[0]
st.session_state["beta_pick"] = st.session_state[SWEEP_KEY]  # a sweep just launched becomes the one shown
st.selectbox("Sweep", names, key="beta_pick",
             on_change=lambda: st.session_state.update({SWEEP_KEY: st.session_state.beta_pick}))
sweep = st.session_state[SWEEP_KEY]

done = [p for p in sweep_points(sweep) if p["state"] == "done"]
notes_path = ref.path if (ref := opened(st.session_state.get(OPENED_KEY))) else (done[0]["path"] if done else None)
try:
    teaching_notes("beta", load_model(notes_path) if notes_path else None)
except CheckpointError:
    teaching_notes("beta", None)


LIVE_KEY = "beta_live"  # the page's one poller (ui/live.py)


def status(sweep: str, signature: str) -> None:
    """The poller: every β's progress, a line each. When a point finishes (or starts its first epoch) the plane,
    reconstructions and maps below are out of date: it asks for one whole-page run instead of drawing them."""
    points = sweep_points(sweep)
    progress_lines(points)
    if points_signature(points) != signature:
        request_page_rerun(LIVE_KEY, f"beta:{sweep}:{points_signature(points)}")


points = sweep_points(sweep)
active = any(p["state"] in ACTIVE for p in points)
poller(LIVE_KEY, status, sweep, points_signature(points), every=POLL_S if active else None)
migs = mig_points(points)  # only for datasets with known factors (shapes)
left, right = st.columns([1, 1])
with left:
    plane(points)
    if st.session_state.get(OPENED_KEY):
        st.success(f"Current checkpoint: {label(st.session_state[OPENED_KEY])}")
        st.page_link("pages/latent_map.py", label="Open it in the Latent map", icon="🗺️")
with right:
    if migs:
        st.plotly_chart(mig_figure(migs, mig_references(sweep)), key="beta_mig")
        st.caption("MIG on the test set by disentanglement_lib's estimator (posterior means in 20 bins, shape "
                   "included). **Factors** shows Chen et al.'s sampled estimator beside it, why the two differ, and "
                   "which dim carries which factor.")
    else:
        st.markdown("**Reconstructions of the same test images**")
        recon_rows(points)
if several_seeds(points):
    st.markdown("**Every trial** (click a row to open it)")
    trials_table(points)
if migs:
    st.markdown("**Reconstructions of the same test images**")
    recon_rows(points)
st.markdown("**Latent map per β** (test set; dotted circle: 2σ of the prior N(0, I))")
latent_maps(points)
