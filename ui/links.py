"""Which page keeps what in the URL: each page's ui module reads and writes its own parameters; this registers
them with the generic ui/url_state.py. app.py calls `register` before the first restore."""

from __future__ import annotations

from ui import checkpoints_ui, compare_select, jobs_ui
from ui import url_state as U
from ui.map import state as map_state


def register() -> None:
    U.register(U.MAP_PAGE, U.Link(map_state.from_url, map_state.to_url))  # pt, z, a, b, proj, dx, dy
    U.register("compare", U.Link(compare_select.from_url, compare_select.to_url))  # cmp
    U.register("train", U.Link(jobs_ui.from_url, jobs_ui.to_url))  # job
    U.register("checkpoints", U.Link(checkpoints_ui.from_url, checkpoints_ui.to_url))  # pick
