#!/usr/bin/env bash
# One chunk of training on the lent GPU (docs/training.md, "Training on a lent GPU").
#
#   bash tools/device_chunk.sh RECIPE MINUTES [glsr train options ...]
#
# Run it through the device tool with carry [".device_data", "runs/<run>"]. It trains RECIPE for
# MINUTES, continuing runs/<run>/last.ckpt when the carried folder holds one, and copies the run's
# files to $OUT/<run>/ so that they come back. <run> is RECIPE, or $RUN where one recipe has several
# runs (one per scale). The device image has torch but cannot install glsr, so glsr runs from src/.
# GLSR_DEVICE=cpu and a local OUT folder run the same chunk here, which is how it is tested.
set -uo pipefail
recipe=${1:?usage: device_chunk.sh RECIPE MINUTES [glsr train options ...]}
minutes=${2:?usage: device_chunk.sh RECIPE MINUTES [glsr train options ...]}
shift 2
run=runs/${RUN:-$recipe}
out=${OUT:?OUT is the folder whose files come back}/$(basename "$run")
data=${GLSR_DEVICE_DATA:-.device_data}
[ -d "$data" ] || { echo "device_chunk: no $data folder; copy T91, BSD200 and Set5 there and carry it" >&2; exit 2; }

resume=()
[ -f "$run/last.ckpt" ] && resume=(--resume)
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 TQDM_MININTERVAL=30
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader

python3 -m glsr train "$recipe" --device "${GLSR_DEVICE:-cuda}" --data-root "$data" --out "$run" \
    --max-minutes "$minutes" "${resume[@]}" "$@"
status=$?

# Whatever happened, bring back what the run wrote: a failed chunk's log is worth the transfer.
mkdir -p "$out"
for f in last.ckpt log.csv model.json model.safetensors; do
    [ -f "$run/$f" ] && cp "$run/$f" "$out/"
done
[ -f "$run/log.csv" ] && tail -n 3 "$run/log.csv"
exit $status
