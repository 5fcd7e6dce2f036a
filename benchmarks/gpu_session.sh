#!/usr/bin/env bash
# The GPU measurements of issue 13 (item 4) as one command, for a session lent a device.
#
#   bash benchmarks/gpu_session.sh DATA_DIR OUT_DIR [DEVICE] [--smoke]
#
# DATA_DIR holds gowalla/ and amazon_seq/ (the shared data does not travel to the device
# machine: copy those two folders into a git-ignored folder of the checkout, e.g. .devdata,
# and name it in the device tool's `carry`). OUT_DIR receives, flat (the tool returns at most
# 8 files): env.txt, kernels.json (propagation, segment softmax and copy bandwidth under
# pytest-benchmark), lightgcn_gowalla.json and sasrec_beauty.json (results of 2 training
# epochs each, with per-epoch seconds), and log.txt. --smoke runs everything tiny, to check
# the script on a CPU first: bash benchmarks/gpu_session.sh ../shared/data /tmp/gpu cpu --smoke
#
# The device image has PyTorch, PyG, Triton and pytest-benchmark; graphrec runs from the
# checkout (PYTHONPATH), nothing is installed.
set -euo pipefail
DATA=${1:?folder holding gowalla/ and amazon_seq/}
OUT=${2:?output folder}
DEV=${3:-cuda}
SMOKE=${4:-}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
GRAPHREC_CACHE="$(mktemp -d)"
export GRAPHREC_CACHE GRAPHREC_SHARED_DATA="$DATA"
PY=${PYTHON:-python3}
exec > >(tee "$OUT/log.txt") 2>&1

$PY - <<'EOF' | tee "$OUT/env.txt"
import platform, torch, torch_geometric
print("python", platform.python_version(), "torch", torch.__version__, "pyg", torch_geometric.__version__)
print("cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print("device", p.name, p.total_memory // 2**20, "MiB,", p.multi_processor_count, "SMs")
try:
    import triton
    print("triton", triton.__version__)
except ImportError:
    print("triton missing")
EOF

if [ "$SMOKE" = "--smoke" ]; then
  GRAPHS=tiny; EPOCHS=1; EXTRA=(--set train.max_batches=3)
else
  GRAPHS=gowalla,amazon-book; EPOCHS=2; EXTRA=()
fi

# 1. kernels: graphrec (Triton on CUDA) against PyG and cuSPARSE (torch.sparse.mm), and the
#    copy bandwidth that gives the SpMM floor (spmm_bytes / bandwidth)
$PY -m pytest benchmarks/test_bench_propagation.py benchmarks/test_bench_segment_softmax.py \
  --benchmark-only --bench-device "$DEV" --bench-graphs "$GRAPHS" -q -p no:cacheprovider \
  --benchmark-json="$OUT/kernels.json"

# 2. one LightGCN Gowalla and one SASRec Beauty training run, 2 epochs each
run() {  # model dataset out-name settings...
  local model=$1 dataset=$2 name=$3; shift 3
  $PY -m graphrec.cli train --model "$model" --dataset "$dataset" --root "$DATA" --output "$GRAPHREC_CACHE/$name" \
    --set train.device="$DEV" --set train.epochs="$EPOCHS" --set train.eval_every="$EPOCHS" -q "$@" "${EXTRA[@]}"
  cp "$GRAPHREC_CACHE/$name/results.json" "$OUT/$name.json"
}
run lightgcn gowalla lightgcn_gowalla --set train.batch_size=2048 --set train.track_test=true \
  --set train.ks=20 --set train.metric=recall@20
run sasrec beauty sasrec_beauty
$PY - "$OUT" <<'EOF'
import json, sys
for name in ("lightgcn_gowalla", "sasrec_beauty"):
    doc = json.load(open(f"{sys.argv[1]}/{name}.json"))
    print(name, "seconds per epoch:", [round(h["seconds"], 2) for h in doc["history"]], "test:",
          {k: round(v, 4) for k, v in doc["test"].items() if k in ("recall@20", "ndcg@10", "ndcg@20")})
EOF
