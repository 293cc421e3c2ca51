#!/usr/bin/env bash
# Fuzzes the parsers with libFuzzer: fuzz_config (YAML configs) and fuzz_image (image decoding and
# the training transforms). Builds them in build-sanitize/ if needed (ASan + UBSan), replays
# fuzz/regressions/<target>/, then fuzzes the targets side by side for SECONDS, each from a
# temporary copy of its seed corpus fuzz/corpus/<target>/ (the repository is not modified). Exits 1
# on any crash, leak, timeout, out-of-memory or sanitizer report, keeping the input under
# build-sanitize/fuzz-artifacts/<target>/.
#   scripts/fuzz.sh          # 60 s per target
#   scripts/fuzz.sh 600
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=SCRIPTDIR/lib/sanitize_common.sh
source scripts/lib/sanitize_common.sh

SECONDS_PER_TARGET=${1:-60}
if [[ ! $SECONDS_PER_TARGET =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS]  (default 60)" >&2
  exit 2
fi
TARGETS=(fuzz_config fuzz_image)
declare -A MAX_LEN=([fuzz_config]=4096 [fuzz_image]=65536)

sanitize_build "${TARGETS[@]}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
artifacts=$SANITIZE_BUILD_DIR/fuzz-artifacts
status=0
summaries=()

# set_options TARGET: libFuzzer's options for TARGET, in the array `options`.
set_options() {
  options=(-rss_limit_mb=4096 -timeout=10 "-max_len=${MAX_LEN[$1]}"
           "-artifact_prefix=$artifacts/$1/")
  if [[ -f fuzz/$1.dict ]]; then options+=("-dict=fuzz/$1.dict"); fi
}

for target in "${TARGETS[@]}"; do
  binary=$SANITIZE_BUILD_DIR/$target
  mkdir -p "$artifacts/$target" "$work/$target"
  set_options "$target"

  # Inputs that once crashed: each runs once and must pass.
  regressions=()
  if [[ -d fuzz/regressions/$target ]]; then
    mapfile -t regressions < <(find "fuzz/regressions/$target" -type f | sort)
  fi
  if ((${#regressions[@]})); then
    if "$binary" "${options[@]}" "${regressions[@]}" >"$work/$target.regressions.log" 2>&1; then
      summaries+=("fuzz: $target: ${#regressions[@]} regression inputs pass")
    else
      tail -n 60 "$work/$target.regressions.log" >&2
      echo "fuzz: $target: a regression input fails again (fuzz/regressions/$target/)" >&2
      summaries+=("fuzz: $target: a regression input FAILS")
      status=1
    fi
  fi
done

# The targets fuzz side by side, one core each (libFuzzer runs one process per target).
declare -A pids started
for target in "${TARGETS[@]}"; do
  cp -R "fuzz/corpus/$target" "$work/$target/corpus"
  set_options "$target"
  started[$target]=$SECONDS
  "$SANITIZE_BUILD_DIR/$target" "${options[@]}" -max_total_time="$SECONDS_PER_TARGET" \
    -print_final_stats=1 "$work/$target/corpus" >"$work/$target.log" 2>&1 &
  pids[$target]=$!
done
for target in "${TARGETS[@]}"; do
  log=$work/$target.log
  rc=0
  wait "${pids[$target]}" || rc=$?
  elapsed=$((SECONDS - started[$target] > 0 ? SECONDS - started[$target] : 1))

  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  speed=$(( ${runs:-0} / elapsed ))
  coverage=$(grep -aoE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 || true)
  crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
  if ((rc != 0)); then
    status=1
    tail -n 80 "$log" >&2
    cp "$log" "$artifacts/$target/fuzz.log"
    echo "fuzz: $target failed (exit $rc); input: ${crash:-none saved}; log: $artifacts/$target/fuzz.log" >&2
  fi
  summaries+=("$(printf 'fuzz: %-11s %8s runs  %6s exec/s  %-18s  crashes: %s' "$target" \
    "${runs:-?}" "${speed:-?}" "${coverage:-cov: ?}" "$((rc != 0))${crash:+ ($crash)}")")
done

printf '%s\n' "${summaries[@]}" >&2
exit "$status"
