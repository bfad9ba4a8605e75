"""Compare on two conv models (issue 15): time to the first table and to the IWAE NLL filled in, before and after.

The real Compare page runs in AppTest, in a fresh process per case, on the bundled conv demos shapes-1-vae-b1 and
shapes-2-vae-b4 (32×32, 2,560 test images each). Each process first imports and draws the Latent map (a server
that is already up), then clears Streamlit's caches, so Compare starts cold: models, dataset and figures. The
times are taken inside the page script, when it hands a table to `st.dataframe`:

  first table   the page opened → the metrics table first drawn
  IWAE filled   the page opened → a table whose IWAE row has every figure (or '–' for a model without a prior)
  page done     the whole script run (every column's figures too)

Cases: `before` runs an older tree (its IWAE with k = 50 inside the first table), `after, first visit` this tree
with an empty runs folder, `after, kept` this tree again on the same runs folder (another visitor, or a later
visit: the IWAE figures are kept in the run store). Prints figures; asserts nothing about speed.

    git archive f124349 | (mkdir -p /tmp/cmp-before && tar -x -C /tmp/cmp-before)
    python bench/compare_bench.py --before /tmp/cmp-before --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IDS = ["demo/shapes-1-vae-b1", "demo/shapes-2-vae-b4"]
NUMBER = re.compile(r"^-?\d+\.\d+( \(k=\d+\))?$|^–$")


def child(tree: Path) -> dict:
    """One case in this process: the Compare page of `tree` on IDS, timed from inside its script run."""
    os.chdir(tree)
    sys.path.insert(0, str(tree))
    import streamlit as st
    from streamlit.delta_generator import DeltaGenerator
    from streamlit.testing.v1 import AppTest

    tables: list[tuple[float, bool]] = []  # (time, IWAE row complete) for each table handed to st.dataframe
    original = DeltaGenerator.dataframe

    def timed(self, data=None, *args, **kwargs):
        rows = [i for i in getattr(data, "index", []) if str(i).startswith("IWAE")]
        tables.append((time.perf_counter(), bool(rows) and all(NUMBER.match(str(v)) for v in data.loc[rows[0]])))
        return original(self, data, *args, **kwargs)

    DeltaGenerator.dataframe = timed
    st.dataframe = lambda *args, **kwargs: timed(st._main, *args, **kwargs)  # st.dataframe was bound at import
    at = AppTest.from_file(str(tree / "app.py"), default_timeout=900)
    at.run()  # imports, the demo's Latent map: the server was up before anyone opened Compare
    st.cache_data.clear(), st.cache_resource.clear()
    tables.clear()
    at.session_state["compare_ids"] = IDS
    t0 = time.perf_counter()
    at.switch_page("pages/compare.py").run()
    done = time.perf_counter() - t0
    if at.exception:
        raise SystemExit(f"the page failed: {[e.value for e in at.exception]}")
    table = at.dataframe[0].value
    iwae = table.loc[[i for i in table.index if str(i).startswith("IWAE")][0]].tolist()
    return {"first_table_s": tables[0][0] - t0 if tables else None,
            "iwae_filled_s": next((t - t0 for t, full in tables if full), None),
            "page_done_s": done, "iwae": iwae, "load": os.getloadavg()[0]}


def run_case(tree: Path, runs: Path) -> dict:
    env = {**os.environ, "VAE_RUNS_DIR": str(runs), "VAE_WARM_WORKER": "0",
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    out = subprocess.run([sys.executable, __file__, "--child", str(tree)], cwd=tree, env=env, capture_output=True,
                         text=True, timeout=1800)
    if out.returncode != 0:
        raise SystemExit(f"case {tree} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.1f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", type=Path, help="an older tree to run beside this one")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child.resolve())))
        return
    rows = []
    for _ in range(a.rounds):
        if a.before:
            with tempfile.TemporaryDirectory() as runs:
                rows.append(("before (k = 50 in the first table)", run_case(a.before.resolve(), Path(runs))))
        with tempfile.TemporaryDirectory() as runs:
            rows.append(("after, first visit", run_case(ROOT, Path(runs))))
            rows.append(("after, kept (a later visit)", run_case(ROOT, Path(runs))))
    print("| case | first table | IWAE filled | page done | IWAE row | load avg |")
    print("|---|---|---|---|---|---|")
    for name, f in rows:
        print(f"| {name} | {_fmt(f['first_table_s'])} | {_fmt(f['iwae_filled_s'])} | {_fmt(f['page_done_s'])} | "
              f"{' · '.join(f['iwae'])} | {f['load']:.1f} |")


if __name__ == "__main__":
    main()
