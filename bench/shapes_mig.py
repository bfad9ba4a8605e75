"""MIG and rate/distortion of a conv VAE on `shapes` for several β and seeds; prints a table, appends JSON lines.

    python bench/shapes_mig.py --betas 0.5,1,2,4,8 --seeds 0,1,2 --epochs 20 --out /tmp/shapes_mig.jsonl

Every run goes through `vae.run.run_training`, the path the CLI and the UI use; the model settings are the
`shapes` preset of the Train form and of scripts/make_demos.sh. Figures are on the test split (2,560 images).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vae import data as data_mod  # noqa: E402
from vae.checkpoint import load_checkpoint  # noqa: E402
from vae.config import DataConfig, ModelConfig, TrainConfig  # noqa: E402
from vae.explore import encode_dataset  # noqa: E402
from vae.metrics import ACTIVE_UNIT_THRESHOLD, dataset_factor_scores, factor_scores  # noqa: E402
from vae.run import run_training  # noqa: E402
from vae.shapes import PRESET_MODEL, PRESET_TRAIN  # noqa: E402

MODEL = dict(kind="vae", **PRESET_MODEL)  # the preset of the Train form and of scripts/make_demos.sh


def one_run(beta: float, seed: int, epochs: int, threads: int, workdir: Path) -> dict:
    out = workdir / f"shapes-b{beta:g}-s{seed}.safetensors"
    train_cfg = TrainConfig(epochs=epochs, batch_size=PRESET_TRAIN["batch_size"], lr=1e-3, beta=beta, seed=seed,
                            threads=threads, device="cpu")
    summary = run_training(ModelConfig(**MODEL), train_cfg, DataConfig(name="shapes"), out, write_log=False,
                           save_optimizer=False)
    ckpt = load_checkpoint(out)
    split = data_mod.load(data_mod.config_from_info(ckpt.data))
    scores = dataset_factor_scores(ckpt.model, split.test)
    mu, _ = encode_dataset(ckpt.model, split.test.x)
    active = mu.var(axis=0) > ACTIVE_UNIT_THRESHOLD  # MIG over the dims the decoder uses (see ui/factors.py)
    mig_active = factor_scores(mu[:, active], split.test.factors.numpy()).mig if active.sum() >= 2 else None
    test = summary["final"]["test"] or {}
    return {"beta": beta, "seed": seed, "epochs": epochs, "mig": scores.mig, "mig_active": mig_active,
            "active_units": int(active.sum()),
            "gaps": dict(zip(scores.factor_names, np.round(scores.gaps, 4).tolist())),
            "recon": test.get("recon"), "kl": test.get("kl"), "images_per_sec": summary["images_per_sec"],
            "wall_s": summary["wall_s"], "threads": threads}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--betas", default="0.5,1,2,4,8")
    p.add_argument("--seeds", default="0")
    p.add_argument("--epochs", type=int, default=PRESET_TRAIN["epochs"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="append one JSON line per run here")
    a = p.parse_args()
    betas = [float(b) for b in a.betas.split(",")]
    seeds = [int(s) for s in a.seeds.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:  # seed-major, so a stopped run still has every β for the first seeds
            for beta in betas:
                t0 = time.perf_counter()
                row = one_run(beta, seed, a.epochs, a.threads, Path(tmp))
                rows.append(row)
                print(f"beta {beta:g} seed {seed}: MIG {row['mig']:.3f} recon {row['recon']:.1f} kl {row['kl']:.2f} "
                      f"{row['images_per_sec']:.0f} img/s ({time.perf_counter() - t0:.0f} s)", flush=True)
                if a.out:
                    with open(a.out, "a") as f:
                        f.write(json.dumps(row) + "\n")
    print("\n| β | MIG (mean ± sd) | recon nats | KL nats | seeds |\n|---|---|---|---|---|")
    for beta in betas:
        r = [x for x in rows if x["beta"] == beta]
        mig = np.array([x["mig"] for x in r])
        print(f"| {beta:g} | {mig.mean():.3f} ± {mig.std(ddof=1) if len(r) > 1 else 0:.3f} | "
              f"{np.mean([x['recon'] for x in r]):.1f} | {np.mean([x['kl'] for x in r]):.2f} | {len(r)} |")


if __name__ == "__main__":
    main()
