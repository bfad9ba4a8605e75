"""MIG (both estimators) and rate/distortion of a conv VAE on `shapes` for several β, seeds and objectives.

    python bench/shapes_mig.py --betas 0.5,1,2,4,8 --seeds 0,1,2 --epochs 20 --out /tmp/shapes_mig.jsonl
    python bench/shapes_mig.py --objectives elbo,beta-tcvae --betas 1,4,8 --seeds 0,1,2 --epochs 10

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

from vae import data as data_mod
from vae.checkpoint import load_checkpoint
from vae.config import DataConfig, ModelConfig, TrainConfig
from vae.explore import encode_dataset
from vae.metrics import ACTIVE_UNIT_THRESHOLD, dataset_factor_scores, factor_scores
from vae.mig import mig_report
from vae.run import run_training
from vae.shapes import PRESET_MODEL, PRESET_TRAIN
from vae.tc import dataset_kl_decomposition

MODEL = dict(kind="vae", **PRESET_MODEL)  # the preset of the Train form and of scripts/make_demos.sh


def one_run(beta: float, seed: int, epochs: int, threads: int, workdir: Path, objective: str = "elbo") -> dict:
    out = workdir / f"shapes-{objective}-b{beta:g}-s{seed}.safetensors"
    train_cfg = TrainConfig(epochs=epochs, batch_size=PRESET_TRAIN["batch_size"], lr=1e-3, beta=beta, seed=seed,
                            threads=threads, device="cpu", objective=objective)
    summary = run_training(ModelConfig(**MODEL), train_cfg, DataConfig(name="shapes"), out, write_log=False,
                           save_optimizer=False)
    ckpt = load_checkpoint(out)
    split = data_mod.load(data_mod.config_from_info(ckpt.data))
    scores = dataset_factor_scores(ckpt.model, split.test)
    mu, _ = encode_dataset(ckpt.model, split.test.x)
    active = mu.var(axis=0) > ACTIVE_UNIT_THRESHOLD  # MIG over the dims the decoder uses (see ui/factors.py)
    mig_active = factor_scores(mu[:, active], split.test.factors.numpy()).mig if active.sum() >= 2 else None
    test = summary["final"]["test"] or {}
    split_kl = dataset_kl_decomposition(ckpt.model, split.test.x)
    return {"objective": objective, "beta": beta, "seed": seed, "epochs": epochs, **mig_report(ckpt.model, split),
            "mig_active": mig_active, "test_mi": split_kl["mi"], "test_tc": split_kl["tc"],
            "test_dwkl": split_kl["dwkl"],
            "active_units": int(active.sum()),
            "gaps": dict(zip(scores.factor_names, np.round(scores.gaps, 4).tolist())),
            "recon": test.get("recon"), "kl": test.get("kl"), "images_per_sec": summary["images_per_sec"],
            "wall_s": summary["wall_s"], "threads": threads}


def _spread(values) -> str:
    v = np.array([x for x in values if x is not None], dtype=float)
    return f"{np.median(v):.3f} [{v.min():.3f}, {v.max():.3f}]" if v.size else "–"


def table(rows: list[dict]) -> str:
    """Median [min, max] over seeds of each (objective, β): both MIG estimators, rate (KL), distortion (recon)."""
    out = ["| objective | β | seeds | MIG binned (means, 20 bins) | MIG sampled (Chen) | sampled, no shape | "
           "distortion: recon | rate: KL | test TC |", "|---|---|---|---|---|---|---|---|---|"]
    for obj in dict.fromkeys(r.get("objective", "elbo") for r in rows):
        for beta in sorted({r["beta"] for r in rows if r.get("objective", "elbo") == obj}):
            r = [x for x in rows if x.get("objective", "elbo") == obj and x["beta"] == beta]
            out.append(f"| {obj} | {beta:g} | {len(r)} | {_spread(x['mig'] for x in r)} | "
                       f"{_spread(x.get('mig_sampled') for x in r)} | {_spread(x.get('mig_sampled_no_shape') for x in r)} | "
                       f"{np.median([x['recon'] for x in r]):.1f} | {np.median([x['kl'] for x in r]):.2f} | "
                       f"{_spread(x.get('test_tc') for x in r)} |")
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--betas", default="0.5,1,2,4,8")
    p.add_argument("--seeds", default="0")
    p.add_argument("--objectives", default="elbo", help="comma-separated: elbo, beta-tcvae")
    p.add_argument("--epochs", type=int, default=PRESET_TRAIN["epochs"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="append one JSON line per run here")
    p.add_argument("--table", default=None, help="only print the table of the JSON lines in this file")
    a = p.parse_args()
    if a.table:
        print(table([json.loads(line) for line in Path(a.table).read_text().splitlines() if line.strip()]))
        return
    betas = [float(b) for b in a.betas.split(",")]
    seeds = [int(s) for s in a.seeds.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:  # seed-major, so a stopped run still has every β and objective for the first seeds
            for objective in a.objectives.split(","):
                for beta in betas:
                    t0 = time.perf_counter()
                    row = one_run(beta, seed, a.epochs, a.threads, Path(tmp), objective)
                    rows.append(row)
                    print(f"{objective} beta {beta:g} seed {seed}: MIG {row['mig']:.3f} sampled "
                          f"{row.get('mig_sampled', float('nan')):.3f} recon {row['recon']:.1f} kl {row['kl']:.2f} "
                          f"{row['images_per_sec']:.0f} img/s ({time.perf_counter() - t0:.0f} s)", flush=True)
                    if a.out:
                        with open(a.out, "a") as f:
                            f.write(json.dumps(row) + "\n")
    print("\n" + table(rows))


if __name__ == "__main__":
    main()
