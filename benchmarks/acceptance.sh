#!/usr/bin/env bash
# The acceptance rows of docs/speed.md, each an interleaved run of keras_vit and its peers (keras-hub, timm:
# pip install -e '.[bench]'). Writes benchmarks/results/MODEL_bBATCH.{json,md,png} and worker logs.
# Takes about 20-30 minutes on 2 CPU cores. Usage: bash benchmarks/acceptance.sh [extra `python -m benchmarks peers` options]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
OUT=${OUT:-benchmarks/results}
run() { PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH} "$PYTHON" -m benchmarks peers "$@" --output_dir "$OUT"; }

# ViT-B/16 224, batch 8: inference on the default path vs keras-hub's predict and its XLA call, timm eager.
run vit_b16 --batch_size 8 --rounds 5 --warmup 2 --reference keras_hub:predict \
  --cases keras_vit:predict,keras_vit:call,keras_vit:saved_model,keras_vit:predict_bf16,keras_hub:predict,keras_hub:call,timm:eager "$@"
# ViT-Ti/16 224, batch 32: one AdamW training step through fit (also with rematerialize=True),
# vs keras-hub (XLA) and timm eager; peak RSS.
run vit_ti16 --batch_size 32 --rounds 5 --warmup 2 --reference keras_hub:fit \
  --cases keras_vit:fit,keras_vit:fit_remat,keras_vit:fit_bf16,keras_hub:fit,keras_hub:train_on_batch,timm:train "$@"
# TNT-S 224, batch 8: inference vs timm eager and torch.compile.
run tnt_s16 --batch_size 8 --rounds 5 --warmup 2 --reference timm:eager \
  --cases keras_vit:predict,keras_vit:call,timm:eager,timm:compile "$@"
