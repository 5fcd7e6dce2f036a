#!/usr/bin/env bash
# A prioritised list of graphrec runs on a lent GPU machine, inside one call of its lease.
#
#   bash docs/_scripts/device_queue.sh JOBS DATA_DIR OUT_DIR SECONDS [WORKERS]
#
# JOBS holds one shell command per line, most wanted first ('#' lines are skipped). A command may
# use $DATA (DATA_DIR: copy the raw folders it needs into a git-ignored folder of the checkout and
# carry it, since ../shared does not travel), $Q (the work folder, /tmp/devq) and $DEV (cuda); both
# variables can be set beforehand (DEV=cpu Q=/tmp/x checks a job list here first).
# WORKERS commands run at once (xargs -P keeps the list's order); a run that fails costs only
# itself. A command that must wait for others polls for their files (a worker slot is cheap).
# At SECONDS - 30 the call packs, flat (the device tool returns at most 8 files): results.tgz
# (everything under $Q but checkpoints), status.txt (each job's exit code and seconds) and
# nvidia-smi.txt, and returns; runs still going are lost with the machine. Nothing is installed:
# graphrec runs from the checkout with the image's PyTorch and PyG.
set -uo pipefail
JOBS=$(realpath "${1:?file of commands}")
DATA=$(realpath "${2:?folder of the raw datasets}")
OUT=${3:?output folder}
SECS=${4:?seconds this call may take}
WORKERS=${5:-16}
cd "$(dirname "$0")/../.."
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1 MPLBACKEND=Agg OMP_NUM_THREADS=1 GRAPHREC_CACHE=/tmp/graphrec-cache \
  GRAPHREC_SHARED_DATA="$DATA" DATA Q=${Q:-/tmp/devq} DEV=${DEV:-cuda}
t0=$(date +%s)
mkdir -p "$OUT" "$Q/logs"
python3 -c "import torch, torch_geometric as g; print('torch', torch.__version__, 'pyg', g.__version__,
torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU')"

job() {  # job NUMBER COMMAND: run one line, log it, record its exit code and times
  local n=$1; shift
  local start=$(( $(date +%s) - t0 ))
  bash -c "$*" > "$Q/logs/$n.log" 2>&1
  echo "$n rc=$? ${start}-$(( $(date +%s) - t0 ))s :: $*" >> "$Q/status.txt"
}
export -f job
export t0
grep -v '^\s*#' "$JOBS" | grep -v '^\s*$' | nl -nrz -w3 -s$'\t' \
  | setsid nohup xargs -P "$WORKERS" -d '\n' -I{} bash -c 'n=${1%%	*}; job "$n" "${1#*	}"' _ {} \
  > "$Q/xargs.log" 2>&1 &
checked=0
while [ $(( $(date +%s) - t0 )) -lt $((SECS - 30)) ]; do
  sleep 10
  if [ $checked = 0 ] && [ $(( $(date +%s) - t0 )) -gt 90 ]; then
    checked=1  # the first runs have trained a while: show any that failed, and the GPU's load
    grep -l "Traceback" "$Q"/logs/*.log 2>/dev/null | head -4 | while read -r f; do echo "== $f"; tail -n 12 "$f"; done
    nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv
  fi
  pgrep -f "xargs -P $WORKERS" > /dev/null || break  # every job ended
done
tar czf "$OUT/results.tgz" --exclude=checkpoint.pt --exclude='*.tmp*' -C "$Q" . 2>/dev/null
cp "$Q/status.txt" "$OUT/status.txt" 2>/dev/null
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
sort "$OUT/status.txt" 2>/dev/null | cut -c1-200
for f in "$Q"/logs/*.log; do  # the last epoch line of every job still running
  n=$(basename "$f" .log); grep -q "^$n " "$Q/status.txt" 2>/dev/null || echo "running $n: $(grep -a Epoch "$f" | tail -n 1)"
done
