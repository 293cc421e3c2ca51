#!/usr/bin/env bash
# Data-parallel scaling on this machine: images/s of one process against `--nproc 2` (Gloo on
# 127.0.0.1), each rank at batch 1, and one process at the same global batch 2. Medians of the
# per-step times in losses.csv after WARMUP steps. On one 2-core machine the two ranks share the
# cores (1 thread each), so this measures the overhead of the process group, not a speed-up.
#   bench/data_parallel.sh [CYCLEGAN] [STEPS] [WARMUP]
set -euo pipefail
EXE=$(realpath "${1:-build/cyclegan}")
STEPS=${2:-30}
WARMUP=${3:-5}
WORK=$(mktemp -d /tmp/cyclegan_dp_bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
"$EXE" make-data --out data64 --size 64 --count 64 --test-count 1 >/dev/null 2>&1
"$EXE" make-data --out data128 --size 128 --count 64 --test-count 1 >/dev/null 2>&1

median_seconds() {  # losses.csv -> median of the last column after the warm-up rows
  tail -n +$((2 + WARMUP)) "$1" | cut -d, -f10 | sort -g |
    awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
busy() {  # other processes' CPU use while we ran: from /proc/loadavg (1-minute load)
  cut -d' ' -f1 /proc/loadavg
}

printf '%-30s %-26s %6s %10s %9s %7s\n' config launch batch "s/step" "images/s" ratio
run_config() {
  local name=$1; shift
  local common=("$@" --set train.max_steps="$STEPS" --set output.sample_every=0
                --set output.checkpoint_every=0 --set output.log_every=1000)
  "$EXE" train "${common[@]}" --set output.dir=one --set train.threads=2 >/dev/null 2>&1
  local one; one=$(median_seconds one/losses.csv)
  "$EXE" train "${common[@]}" --set output.dir=two --nproc 2 >/dev/null 2>&1
  local two; two=$(median_seconds two/losses.csv)
  "$EXE" train "${common[@]}" --set output.dir=big --set train.threads=2 \
    --set data.batch_size=2 >/dev/null 2>&1
  local big; big=$(median_seconds big/losses.csv)
  local base; base=$(awk -v s="$one" 'BEGIN {print 1 / s}')
  for row in "1 process, 2 threads|1|$one" "--nproc 2, 1 thread each|2|$two" \
             "1 process, 2 threads|2|$big"; do
    IFS='|' read -r launch batch seconds <<<"$row"
    awk -v n="$name" -v l="$launch" -v b="$batch" -v s="$seconds" -v base="$base" \
      'BEGIN {printf "%-30s %-26s %6d %10.4f %9.2f %6.2fx\n", n, l, b, s, b / s, (b / s) / base}'
  done
  echo "  (1-minute load average after: $(busy))"
  rm -rf one two big
}
run_config "book U-Net 32/32 @64 (demo)" --set data.root=data64 \
  --set model.input_dim=64
run_config "resnet_9blocks 64/64 @128" --set data.root=data128 --set model.input_dim=128 \
  --set model.generator_type=resnet_9blocks --set model.gen_n_filters=64 \
  --set model.disc_n_filters=64
