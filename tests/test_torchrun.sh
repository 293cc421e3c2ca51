#!/usr/bin/env bash
# `torchrun --no_python ... cyclegan train` (Debian's python3-torch) trains the same run as
# `cyclegan train --nproc 2`: both launch 2 ranks on 127.0.0.1, torchrun through its agent's
# store. Debian 12's torchrun fails on Python 3.11 with its default --redirects/--tee of 0
# (pytorch/pytorch#92319: Std.from_str returns None); any other value works, so pass 1.
# Usage: test_torchrun.sh PATH_TO_CYCLEGAN
set -euo pipefail

EXE=$(realpath "$1")
TORCHRUN=${TORCHRUN:-torchrun}
if ! command -v "$TORCHRUN" >/dev/null; then
  echo "test_torchrun: $TORCHRUN not found (Debian package python3-torch)" >&2
  exit 1
fi
WORK=$(mktemp -d /tmp/cyclegan_torchrun.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

"$EXE" make-data --out data --size 32 --count 8 --test-count 1 >/dev/null 2>&1
COMMON=(--set data.root=data --set model.input_dim=32 --set model.gen_n_filters=8
        --set model.disc_n_filters=8 --set train.max_steps=6 --set train.pool_size=2
        --set output.sample_every=0 --set output.checkpoint_every=3 --set distributed.check_every=1)

PORT=$((29600 + $$ % 300))
"$TORCHRUN" --no_python --redirects 1 --tee 1 --nnodes 1 --nproc_per_node 2 \
  --master_addr 127.0.0.1 --master_port "$PORT" \
  "$EXE" train "${COMMON[@]}" --set output.dir=torchrun >torchrun.log 2>&1 || {
  cat torchrun.log >&2
  echo "test_torchrun: FAILED: torchrun launch exited non-zero" >&2
  exit 1
}
grep -q "data-parallel: 2 ranks (gloo), global batch 2 = 2 x 1" torchrun.log || {
  cat torchrun.log >&2
  echo "test_torchrun: FAILED: the torchrun workers did not form a 2-rank group" >&2
  exit 1
}
"$EXE" train "${COMMON[@]}" --set output.dir=nproc --nproc 2 >nproc.log 2>&1 || {
  cat nproc.log >&2
  echo "test_torchrun: FAILED: --nproc 2 exited non-zero" >&2
  exit 1
}
# The same run: identical losses at every step (the last column is the step's duration).
if ! diff <(cut -d, -f1-9 torchrun/losses.csv) <(cut -d, -f1-9 nproc/losses.csv); then
  echo "test_torchrun: FAILED: torchrun and --nproc runs differ" >&2
  exit 1
fi
echo "test_torchrun: torchrun (agent store) and --nproc 2 trained the same 6 steps:" \
  "$(($(wc -l <nproc/losses.csv) - 1)) identical losses.csv rows"
