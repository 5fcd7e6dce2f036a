#!/usr/bin/env bash
# Issue 14's sequential grid (docs/_scripts/seq_grid.py) on a lent GPU machine, within its lease.
#
#   bash docs/_scripts/seq_grid_device.sh DATA_DIR OUT_DIR SECONDS [WORKERS]
#
# The first call starts the grid detached (setsid: it outlives the call while the machine stays
# warm) and returns after SECONDS; a later call on the same machine finds it running and only waits
# and packs. The first call begins with the training-step benchmark of SASRec, IDCLRec's backbone and
# IDCLRec's partner-encoding variants on the GPU, alone (bench_sequential.json). Every pack writes,
# flat (the device tool returns at most 8 files): grid.tgz (results, logs and status, no
# checkpoints), tables.md (docs/_scripts/seq_tables.py), status.txt and nvidia-smi.txt. DATA_DIR holds amazon_seq/ and amazon_text/ (copy them into a git-ignored folder of
# the checkout and carry it: ../shared does not travel). Nothing is installed: graphrec runs from the
# checkout with the image's PyTorch and PyG.
set -uo pipefail
DATA=${1:?folder holding amazon_seq/}
OUT=${2:?output folder}
SECS=${3:?seconds this call may take}
WORKERS=${4:-16}
cd "$(dirname "$0")/../.."
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1 MPLBACKEND=Agg OMP_NUM_THREADS=1 GRAPHREC_CACHE=/tmp/graphrec-cache \
  GRAPHREC_SHARED_DATA="$(realpath "$DATA")"
GRID=/tmp/seq-grid
t0=$(date +%s)
mkdir -p "$OUT" "$GRID"

pack() {
  tar czf "$OUT/grid.tgz" --exclude=checkpoint.pt --exclude='*.png' -C "$GRID" . 2>/dev/null
  python3 docs/_scripts/seq_tables.py "$GRID" --published none > "$OUT/tables.md" 2>&1
  nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
  python3 - "$GRID/status.json" > "$OUT/status.txt" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
for k, v in s.items():
    print(f"{k:40s} " + (v.get("skipped") or f"rc={v.get('rc', 'running')} {v.get('started_s')}-{v.get('ended_s', '')}s"))
EOF
}

if [ ! -e "$GRID/status.json" ]; then
  python3 -c "import torch, torch_geometric as g; print('torch', torch.__version__, 'pyg', g.__version__,
torch.cuda.get_device_name(0))"
  bench=benchmarks/test_bench_sequential.py::test_training_step
  timeout 150 python3 -m pytest -q -p no:cacheprovider --benchmark-only --bench-device cuda \
    --benchmark-columns=mean,stddev,rounds --benchmark-json "$OUT/bench_sequential.json" \
    "$bench[sasrec-0]" "$bench[idclrec_backbone-0]" "$bench[idclrec-0]" \
    "$bench[idclrec_partners_one_pass-0]" "$bench[idclrec_partners_with_input-0]" 2>&1 | grep -E "test_|passed|failed|Error"
  setsid nohup python3 docs/_scripts/seq_grid.py --root "$DATA" --output "$GRID" --device cuda \
    --workers "$WORKERS" > "$GRID/runner.log" 2>&1 < /dev/null &
  sleep 5
fi
tg=$(date +%s)
checked=0
while [ $(( $(date +%s) - t0 )) -lt $((SECS - 25)) ]; do
  sleep 10
  if [ $checked = 0 ] && [ $(( $(date +%s) - tg )) -gt 120 ]; then
    checked=1  # the first runs have trained a while: show any that failed, and the GPU's load
    grep -l "Traceback" "$GRID"/logs/*.log 2>/dev/null | head -3 | xargs -r tail -n 15
    tail -n 3 "$GRID"/logs/beauty_*-s1.log
    nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv
  fi
  pgrep -f seq_grid.py > /dev/null || break  # the grid ended
done
pack
cat "$OUT/status.txt"
