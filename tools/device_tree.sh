#!/usr/bin/env bash
# Fit the working tree into the device tool's transfer limit for a GPU chunk, and put it back after.
#
#   bash tools/device_tree.sh slim [KEEP ...]   # before the device calls
#   bash tools/device_tree.sh restore           # after them
#
# The device tool copies every tracked file; the committed runs and shipped weights (about 67 MB)
# plus the 291 training images (42 MB) pass its 64 MiB. `slim` deletes the tracked files under runs/
# and the shipped weights from the working tree, except the KEEP paths (files or folders) a chunk
# needs (its --init, the run it resumes), and prints what will travel. It never deletes a file with
# uncommitted changes. `restore` checks out only the tracked files that are missing, so a chunk's
# files copied back into runs/ since `slim` (a newer last.ckpt) stay as they are.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
limit=$((64 * 1024 * 1024))

case ${1:-} in
slim)
    shift
    changed=$(git ls-files -m)
    removed=0
    while IFS= read -r f; do
        [ -e "$f" ] || continue
        for k in "$@"; do
            k=${k%/}
            [[ $f == "$k" || $f == "$k"/* ]] && continue 2
        done
        if grep -qxF -- "$f" <<<"$changed"; then
            echo "device_tree: kept $f: it has uncommitted changes" >&2
            continue
        fi
        rm -- "$f"
        removed=$((removed + 1))
    done < <(git ls-files -- runs 'src/glsr/weights/*.safetensors')
    # du still totals the files that exist when it fails on the deleted ones
    tracked=$( (git ls-files -z | xargs -0 du -cb -- 2>/dev/null || true) | tail -n 1 | cut -f 1)
    data=0
    [ -d .device_data ] && data=$(du -sb .device_data | cut -f 1)
    total=$((tracked + data))
    echo "device_tree: removed $removed files; tracked files $((tracked / 1000000)) MB + .device_data $((data / 1000000)) MB = $((total / 1000000)) MB of the limit's $((limit / 1000000)) MB (carried run folders add to it)"
    [ "$total" -le "$limit" ] || { echo "device_tree: over the transfer limit; keep fewer paths" >&2; exit 1; }
    ;;
restore)
    missing=$(git ls-files -d | sort -u)
    [ -z "$missing" ] || git ls-files -dz | xargs -0 git checkout --
    echo "device_tree: restored $(grep -c . <<<"$missing" || true) files"
    ;;
*)
    echo "usage: device_tree.sh slim [KEEP ...] | restore" >&2
    exit 2
    ;;
esac
