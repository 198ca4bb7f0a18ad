#!/usr/bin/env bash
# Tables 1 and 2 on full-size MNIST (no subsample, conv, 10 seeds, --ensemble) on a GPU machine,
# within a time budget: Table 2 (sequential) first at EPOCHS epochs, then Table 1
# (reproducibility) at as many epochs (at most EPOCHS) as the measured speed leaves time for.
# Writes <spec>.json (the `run --json` summary), <spec>.log and timings.txt to OUT.
#
#   OUT=DIR EPOCHS=30 BUDGET_S=480 bash benchmarks/gpu/mnist_full_tables.sh
#   (EXTRA="--subsample 300" DEVICE=cpu EPOCHS=1 ...: a tiny CPU try of the same script)
#   (on the device tool's machine: source .carry/setup.sh first; MNIST in .carry/data)
set -uo pipefail
OUT=${OUT:?set OUT}; EPOCHS=${EPOCHS:-30}; BUDGET_S=${BUDGET_S:-480}
DATA=${DATA_DIR:-.carry/data}; STORE=${STORE:-sqlite:////tmp/mnist-full/mlflow.db}
mkdir -p /tmp/mnist-full "$OUT"
start=$(date +%s)
common=(${EXTRA:-} --device "${DEVICE:-cuda}" --ensemble --figures none --data-dir "$DATA" --tracking-uri "$STORE" --json)
run_spec() {  # spec epochs
  local t0=$(date +%s)
  rosetta-cl run "$1" --epochs "$2" "${common[@]}" > "$OUT/$1.json" 2> "$OUT/$1.log"
  local rc=$? t1=$(date +%s)
  echo "$1 epochs=$2 rc=$rc wall_s=$((t1 - t0))" | tee -a "$OUT/timings.txt"
  echo $((t1 - t0))
}
wall=$(run_spec table2_sequential_mnist "$EPOCHS" | tail -1)
# Table 1 trains about 0.8x the images of Table 2 per epoch (no target, same D1 size as D2)
left=$((BUDGET_S - ($(date +%s) - start)))
epochs=$(python3 -c "print(max(1, min($EPOCHS, int($left / (0.85 * $wall / $EPOCHS + 1e-9)))))")
run_spec table1_reproducibility_mnist "$epochs" > /dev/null
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv >> "$OUT/timings.txt" 2>&1
python3 -c "import torch; print('torch', torch.__version__)" >> "$OUT/timings.txt"
