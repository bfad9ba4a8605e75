#!/usr/bin/env bash
# Rebuild the bundled demo checkpoints in checkpoints/demos/ (offline, CPU, about a minute).
# The ladder that every VAE tutorial tells: PCA -> auto-encoder -> VAE -> beta-VAE, all on digits with a 2-D latent.
set -euo pipefail
cd "$(dirname "$0")/.."
out=checkpoints/demos
mkdir -p "$out"
common=(--data digits --latent-dim 2 --seed 0 --epochs 200 --batch-size 32 --lr 1e-3 --threads 1 --no-progress --no-optimizer-state)
python -m vae train "${common[@]}" --model pca --out "$out/digits-1-pca.safetensors" > /dev/null
python -m vae train "${common[@]}" --model ae --out "$out/digits-2-ae.safetensors" > /dev/null
python -m vae train "${common[@]}" --model vae --beta 1 --out "$out/digits-3-vae.safetensors" > /dev/null
# On 64-pixel digits beta >= 3 collapses the posterior (KL ~ 0), so the ladder's beta-VAE uses beta = 2;
# the beta = 4 demo is kept as the worked example of posterior collapse.
python -m vae train "${common[@]}" --model vae --beta 2 --out "$out/digits-4-beta2-vae.safetensors" > /dev/null
python -m vae train "${common[@]}" --model vae --beta 4 --out "$out/digits-6-beta4-vae-collapsed.safetensors" > /dev/null
python -m vae train "${common[@]}" --latent-dim 8 --model vae --beta 1 \
  --out "$out/digits-5-vae-z8.safetensors" > /dev/null
rm -f "$out"/*.log.jsonl
ls -l "$out"
