"""Peak memory of refusing ONNX files that fold into far more memory than they hold (tests/onnx_bombs.py).

Prints, per file, how far an import raised a fresh child's peak resident set (ru_maxrss) and the one-line error.
Asserts nothing. Run from the repository root:

    python bench/onnx_bombs.py                 # concat gather mod constant ints-63mb
    python bench/onnx_bombs.py concat          # one of them
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
import onnx_bombs as ob  # noqa: E402


def main(kinds: list[str]) -> None:
    enc = ob.encoder()
    print("bomb      file MB  peak RSS growth MB  written  error")
    for kind in kinds or ["concat", "gather", "mod", "constant", "ints-63mb"]:
        dec = ob.bomb(kind)
        with tempfile.TemporaryDirectory() as tmp:
            r = ob.peak_import(enc, dec, Path(tmp))
            written = len(list((Path(tmp) / "out").iterdir()))
        print(f"{kind:<9} {len(dec) / 1024**2:7.1f}  {r['peak_growth_mb']:18.0f}  {written:7d}  "
              f"{(r['error'] or 'ACCEPTED')[:110]}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
