#!/usr/bin/env bash
# The GPU figures of the encoder/retrieval benchmarks in one short run, for a machine with a CUDA GPU
# (none was available to this project so far). Writes its JSON under ${OUT:-bench/results/gpu}.
#
#   OUT=/tmp/gpu bash bench/gpu.sh          # ~10 minutes on one GPU after the install
#
# 1. the GPU tests (CUDA pretraining, GPU FAISS index) that skip on CPU-only machines;
# 2. full-graph GNN forward on the MetaQA KB on CUDA (CompGCN and R-GCN), then pretraining against
#    DistMult with a 300 s budget each;
# 3. FAISS on the GPU (flat and IVF) over the 43k name vectors and the 1M x 384 kde set;
# 4. the QA model's batched throughput on the GPU, when a checkpoint is present.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${OUT:-bench/results/gpu}"
mkdir -p "$OUT"
PY=.venv/bin/python
[ -x "$PY" ] || { scripts/setup.sh dev,ml; }
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
$PY -c "import torch; assert torch.cuda.is_available(), 'torch sees no CUDA device'; print(torch.cuda.get_device_name())"
# the GPU build of FAISS, when the package index has one for this Python (else the CPU build stays)
.venv/bin/pip install -q faiss-gpu-cu12 2>/dev/null || echo "faiss-gpu-cu12 not installable here: FAISS figures stay on the CPU"
$PY -m pytest -q -m gpu tests 2>&1 | tail -5 | tee "$OUT/gpu_tests.txt"
$PY bench/encode.py --device cuda --kinds compgcn,rgcn --budget-s 300 --out "$OUT/encode_gpu.json"
$PY bench/retrieval.py --device cuda --ivf --out "$OUT/retrieval_gpu.json"
if [ -f runs/qa/metaqa/config.json ]; then
  $PY bench/qa.py --config configs/metaqa.json --variants full --no-baseline --strip-sample 200 --latency 100 \
      --out "$OUT/qa_gpu.json"
fi
echo "wrote $OUT"
