"""The run-log reader parses a log again only from where it grew, and still sees exactly what a full parse sees."""

from __future__ import annotations

import json
import os
from pathlib import Path

from vae.run import RunLog, read_log


def _full_parse(path) -> list[dict]:
    """The reference: every complete, valid line of the file, parsed from scratch."""
    out = []
    text = Path(path).read_bytes()
    for line in text[: text.rfind(b"\n") + 1].splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def _bump_mtime(path, k: int) -> None:
    st = os.stat(path)  # same-second writes on a coarse clock must still read as a change
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + k * 1_000_000))


def test_growing_log_half_lines_and_rewrites_match_a_full_parse(tmp_path):
    path = tmp_path / "r.log.jsonl"
    log = RunLog(path)
    assert read_log(path) == []
    log.write("start", pid=1)
    log.write("epoch", epoch=1)
    assert [r["event"] for r in read_log(path)] == ["start", "epoch"]
    with open(path, "a") as f:  # a line half written: not seen until its newline arrives
        f.write('{"event": "epoch", "epo')
    _bump_mtime(path, 1)
    assert read_log(path) == _full_parse(path) and len(read_log(path)) == 2
    with open(path, "a") as f:
        f.write('ch": 2}\nnot json\n')
    _bump_mtime(path, 2)
    assert read_log(path) == _full_parse(path)
    assert [r.get("epoch") for r in read_log(path)] == [None, 1, 2]

    RunLog(path).write("start", pid=2, note="a restarted run rewrites the same file, longer than before" * 3)
    _bump_mtime(path, 3)
    rows = read_log(path)
    assert rows == _full_parse(path) and [r["pid"] for r in rows] == [2]

    path.write_text("")  # truncated
    _bump_mtime(path, 4)
    assert read_log(path) == []
    path.unlink()
    assert read_log(path) == []


def test_callers_get_their_own_list(tmp_path):
    path = tmp_path / "r.log.jsonl"
    RunLog(path).write("start")
    read_log(path).append({"event": "forged"})
    assert [r["event"] for r in read_log(path)] == ["start"]
