"""Train page helpers: the job-manager singleton, the live job panel, the runs list and the page's `job` URL
parameter. The form that starts a run is ui/train_form.py."""

from __future__ import annotations

import os
import re
import time

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from ui.common import LABEL_COLORS, encode_test, md, mtime, opened, runs_dir
from ui.latent_figures import latent_scatter
from ui.live import poller, request_page_rerun
from ui.owner import owner_id
from vae.jobs import JobManager, JobStatus, NotOwner
from vae.tc import TERMS, negative_tc_note


def _poll_s(default: float, env: str = "VAE_LIVE_POLL_S") -> float:
    """An env override of a poll period (bench/live_bench.py compares 2 s, the old period, with today's)."""
    try:
        return max(0.05, float(os.environ.get(env, default)))
    except ValueError:
        return default


# the shown run's panel (status, curves, map, table) redraws this often while it trains; one poller, so one period:
# a Plotly redraw costs the browser ~0.1 s, and a digits epoch takes ~0.05 s
LIVE_POLL_S = _poll_s(0.5)
OTHERS_POLL_S = 1.0  # the runs table, while only other runs (another tab's, a sweep's) are live
LIVE_KEY = "train_live"  # the Train page's poller (ui/live.py)
JOB_KEY = "train_job"  # non-widget key: the job the Train page shows survives leaving the page
PICK_PREFIX = "train_pick:"  # + the shown run's ID: the "Show run" box made for that run
ERR_KEY = "train_errors"
STATE_ICON = {"queued": "⏳", "running": "🏃", "done": "✅", "stopped": "⏹️", "diverged": "💥", "failed": "❌"}
COLORS = LABEL_COLORS  # series colours for curves and sweep points


@st.cache_resource(max_entries=4, show_spinner=False, on_release=lambda m: m.close())
def _manager(root: str) -> JobManager:
    return JobManager(root)


def job_manager() -> JobManager:
    """One manager per runs folder for the whole server process (its thread promotes queued jobs)."""
    return _manager(str(runs_dir().resolve()))


# ---- live panel ------------------------------------------------------------------------------------
def pick_job(mgr: JobManager) -> str | None:
    """The job this session started or picked, else the newest active one (e.g. after a reload)."""
    chosen = st.session_state.get(JOB_KEY)
    jobs = mgr.jobs()
    if chosen and any(j.id == chosen for j in jobs):
        return chosen
    active = [j for j in jobs if j.active and not j.sweep] or [j for j in jobs if j.active]
    if not active:
        return None
    st.session_state[JOB_KEY] = active[0].id  # keep showing it after it ends
    return active[0].id


def eta_text(s: JobStatus) -> str:
    if s.eta_s is None or s.eta_s != s.eta_s:
        return "estimating time left…"
    m, sec = divmod(int(round(s.eta_s)), 60)
    return f"about {m} min {sec:02d} s left" if m else f"about {sec} s left"


def curves_figure(rows: list[dict], likelihood_units: str = "nats per image") -> go.Figure:
    """recon, KL and ELBO per epoch, train solid and test dashed; for a β-TCVAE run a fourth panel splits the KL."""
    split = any("tc" in r for r in rows)
    titles = ("recon", "KL", "ELBO") + (("KL = MI + TC + dim-wise KL",) if split else ())
    fig = make_subplots(rows=1, cols=len(titles), subplot_titles=titles, horizontal_spacing=0.08)
    ep = [r["epoch"] for r in rows]
    for col, key in enumerate(("recon", "kl", "elbo"), start=1):
        fig.add_scatter(x=ep, y=[r.get(key) for r in rows], name="train", mode="lines+markers", row=1, col=col,
                        line=dict(color=COLORS[0]), showlegend=col == 1, legendgroup="train")
        fig.add_scatter(x=ep, y=[(r.get("test") or {}).get(key) for r in rows], name="test", mode="lines+markers",
                        row=1, col=col, line=dict(color=COLORS[1], dash="dash"), showlegend=col == 1,
                        legendgroup="test")
    if split:  # minibatch estimates on the training batches (vae/tc.py), the terms β-TCVAE weighs apart
        for i, (key, label) in enumerate(TERMS.items()):
            fig.add_scatter(x=ep, y=[r.get(key) for r in rows], name=label, mode="lines+markers", row=1, col=4,
                            line=dict(color=COLORS[2 + i]))
    for col in range(1, len(titles) + 1):
        fig.update_xaxes(title_text="epoch", tickformat="d", rangemode="tozero", row=1, col=col)  # whole epochs only
    fig.update_yaxes(title_text=likelihood_units, row=1, col=1)
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.3))
    if split and (note := negative_tc_note(rows, None)):  # in the figure, so the poller's slots stay the same
        fig.update_layout(title=dict(text="<sup>" + note.replace("\n", "<br>") + "</sup>", y=0.99),
                          margin=dict(t=95), height=340)
    return fig


def kl_dims_figure(kl: list[float]) -> go.Figure:
    fig = go.Figure(go.Bar(x=[f"z{i + 1}" for i in range(len(kl))], y=kl, marker_color=COLORS[2]))
    fig.update_layout(height=280, margin=dict(l=10, r=10, t=40, b=10), title="KL per latent dimension (nats)",
                      yaxis_rangemode="tozero")
    return fig


@st.cache_resource(max_entries=8, show_spinner=False)
def _figures(job_id: str, n_rows: int, ckpt: str, ckpt_mtime: float, _rows: list[dict]) -> dict:
    """The run's figures, built once per (epoch count, checkpoint version) and shared, never changed: a live panel
    that redraws twice a second must not rebuild (or re-validate) Plotly figures or re-encode the test set."""
    out = {"curves": curves_figure(_rows), "kl": kl_dims_figure((_rows[-1].get("kl_per_dim") or []) if _rows else [])}
    if ckpt_mtime and _rows:
        enc = encode_test(ckpt)  # cached on mtime: recomputed when the epoch's checkpoint is rewritten
        if enc["mu"].shape[1] == 2:
            # SVG for small maps (ui.common.SVG_POINTS): no WebGL context to rebuild on every live redraw
            out["map"] = latent_scatter(enc["mu"], enc["y"], title=f"latent map after epoch {n_rows}", height=280)
    return out


def charts(mgr: JobManager, s: JobStatus | None, key: str) -> None:
    """Curves, KL per dimension and the 2-D latent map: always the same three slots (curves; KL | map), each one
    element, before the first epoch (empty axes), while training and after, with or without a run to show."""
    if s is None:  # nothing to plot: the same slots, not empty axes (each Plotly figure costs the browser ~55 ms of a
        st.caption("A run's loss curves, KL per dimension and 2-D latent map are drawn here.")  # page switch)
        a, b = st.columns(2)
        a.empty()
        b.empty()
        return
    rows = mgr.history(s.id)
    figs = _figures(s.id, len(rows), s.checkpoint, mtime(s.checkpoint), rows)
    st.plotly_chart(figs["curves"], key=f"{key}_curves")
    a, b = st.columns(2)
    a.plotly_chart(figs["kl"], key=f"{key}_kl")
    if "map" in figs:
        b.plotly_chart(figs["map"], key=f"{key}_map")
    elif not rows:
        b.caption("Curves, KL per dimension and the latent map fill in after the first epoch.")
    else:
        b.caption("The live latent map is drawn for 2-D latents; open the run in the Latent map for the others.")


def _status_line(mgr: JobManager, s: JobStatus | None) -> None:
    """Exactly one element: queued, starting, a progress bar, the outcome, or "no run"."""
    if s is None:
        st.caption("No run shown: start one above, or pick one under Recent runs.")
    elif s.state == "queued":
        st.info(f"⏳ **{md(s.name)}** is queued: position {s.queue_position}. It starts when a running job finishes "
                f"(at most {mgr.max_jobs} at a time).")
    elif s.active and s.epoch == 0 and s.fraction == 0.0:
        st.progress(0.0, text=f"⏳ **{md(s.name)}**: starting… (loading the model code and the data)")
    elif s.active:
        st.progress(s.fraction, text=f"🏃 **{md(s.name)}**: epoch {s.epoch} of {s.epochs} · {eta_text(s)}")
    else:
        text = f"**{md(s.name)}**: {s.state}" + (f". {md(s.message)}" if s.message else "")
        {"done": st.success, "stopped": st.warning}.get(s.state, st.error)(text, icon=STATE_ICON[s.state])


def _stop(mgr: JobManager, job_id: str) -> None:
    try:
        mgr.stop(job_id, by=owner_id())
    except NotOwner as e:  # the button is hidden from other sessions; a stale page may still send the click
        st.session_state[ERR_KEY] = {"run_name": str(e)}


def stop_button(mgr: JobManager, s: JobStatus | None) -> None:
    """Stop (or cancel) for the visitor who started the shown run, drawn by the main script, not the poller.

    Outside the poller, the click is an ordinary whole-page event that never has to share a rerun with the
    fragment's own timer, and the poller keeps one slot fewer. It is drawn while the run is live when the page runs;
    the whole-page run that the poller asks for when the run ends takes it away; a click that lands in between
    stops a run that has already ended, which does nothing.
    """
    if s is not None and s.active and mgr.can_stop(s.id, owner_id()):
        st.button("Stop", key=f"train_stop_{s.id}", on_click=_stop, args=(mgr, s.id),
                  help="Stops between steps and keeps the last finished epoch's checkpoint")


def action(mgr: JobManager, s: JobStatus | None) -> None:
    """Exactly one element: who may stop a live run, a link that opens a finished run in the Latent map (a link,
    not a button: nothing here reruns or switches the page from the poller), or a caption."""
    if s is None:
        st.caption("Runs train in the background with the same code as `python -m vae train`.")
    elif s.active and mgr.can_stop(s.id, owner_id()):
        st.caption("You started this run: Stop (above) keeps the last finished epoch's checkpoint.")
    elif s.active:
        st.caption("Started by another visitor: you can watch it, but only they can stop it.")
    elif opened(s.id) is not None:  # a job's ID is its checkpoint's
        st.page_link("pages/latent_map.py", label="Open in Latent Map", icon="🗺️", query_params={"ckpt": s.id})
    else:
        st.caption("This run left no checkpoint to open.")


def _mode(jobs: list[JobStatus], job_id: str | None) -> tuple[bool, bool]:
    """(is the shown run live, is any run live): what decides how often the poller runs."""
    return (any(j.id == job_id and j.active for j in jobs), any(j.active for j in jobs))


def _live(job_id: str | None, mode: tuple[bool, bool]) -> None:
    """The page's one poller: status, who may stop, charts and the runs table, the same slots on every run."""
    mgr = job_manager()
    jobs = mgr.jobs()
    shown = next((j for j in jobs if j.id == job_id), None)
    now = _mode(jobs, job_id)
    _status_line(mgr, shown)
    action(mgr, shown)
    charts(mgr, shown, "train_live")
    from ui.replay import train_slot  # issue 20: the epoch scrubber and play button, live and finished

    train_slot(shown)
    st.subheader("Recent runs")
    runs_table(jobs)
    if now != mode:  # a run started or ended: the rest of the page (notes, open button, poll rate) must follow
        request_page_rerun(LIVE_KEY, f"train:{job_id}:{now}:{sum(j.active for j in jobs)}:{len(jobs)}")


def live_area(job_id: str | None) -> None:
    """The shown run's status, its charts and the recent runs in one poller with a fixed layout.

    It polls every LIVE_POLL_S while the shown run is live, every OTHERS_POLL_S while only someone else's run is,
    and not at all when nothing trains. When a run starts or ends the poller asks the main script for one
    whole-page run (ui/live.py), which brings the notes up to date and stops the polling.
    """
    mgr = job_manager()
    jobs = mgr.jobs()
    mode = _mode(jobs, job_id)
    every = LIVE_POLL_S if mode[0] else (OTHERS_POLL_S if mode[1] else None)
    st.subheader("Run")
    stop_button(mgr, next((j for j in jobs if j.id == job_id), None))
    poller(LIVE_KEY, _live, job_id, mode, every=every)


def runs_table(jobs: list[JobStatus], limit: int = 20) -> None:
    """Recent runs of everyone on this server, so a reloaded page can find its run again: always a table and a
    picker (both empty before the first run), since this is drawn by the page's poller."""
    jobs = jobs[:limit]
    st.dataframe([{"run": j.id, "state": f"{STATE_ICON[j.state]} {j.state}", "epochs": f"{j.epoch}/{j.epochs}",
                   "started": time.strftime("%H:%M:%S", time.localtime(j.created)), "message": j.message}
                  for j in jobs] or [{"run": "no runs yet", "state": "", "epochs": "", "started": "", "message": ""}],
                 hide_index=True, width="stretch")
    ids = [j.id for j in jobs]
    cur = st.session_state.get(JOB_KEY)
    # One picker per shown run (its key names the run), starting on that run: the picker follows a new run without
    # the script writing into a widget the browser also holds. A box whose value the script overwrote could send
    # its older value back with the next click and switch the page to a run shown two starts ago.
    key = f"{PICK_PREFIX}{cur}"
    st.selectbox("Show run", ids, index=ids.index(cur) if cur in ids else None, key=key, disabled=not ids,
                 format_func=lambda i: i.removeprefix("run/"),  # a plain run by its name, a sweep's with its folder
                 placeholder="no runs yet", on_change=_picked, args=(key, cur))


def _picked(key: str, shown: str | None) -> None:
    """A run picked in the box made for `shown`: show it, unless the page has moved on to another run since."""
    ss = st.session_state
    if ss.get(JOB_KEY) == shown and ss.get(key):
        ss[JOB_KEY] = ss[key]


# ---- the URL (registered by ui/links.py) -------------------------------------------------------------------------
JOB_RE = re.compile(r"^[A-Za-z0-9._\-/]{1,160}$")


def from_url(url: dict[str, str], notes: list[str]) -> None:
    """`job`: a run of this server's job manager, by its job ID; anything else is refused with a notice."""
    if "job" not in url:
        return
    job = url["job"]
    if JOB_RE.match(job or "") and ".." not in job.split("/") and any(j.id == job for j in job_manager().jobs()):
        st.session_state[JOB_KEY] = job
    else:
        notes.append("the run named in the link is not on this server")


def to_url() -> dict[str, str]:
    job = st.session_state.get(JOB_KEY)
    return {"job": job} if job else {}
