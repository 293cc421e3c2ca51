#!/usr/bin/env bash
# Renders a real training report in headless Chromium: makes a tiny dataset, trains 6 steps,
# runs `cyclegan report`, then checks the DOM Chromium built (curve SVGs with drawn polylines,
# every sample <img> marked data-state="loaded" by the page's own script, none "broken") and
# that a full-page screenshot is a real PNG. Exits 77 (skipped) when Chromium is not installed.
#
#   tests/test_report_browser.sh build/cyclegan
set -euo pipefail

if [[ $# -ne 1 || ! -x $1 ]]; then
  echo "usage: $0 PATH/TO/cyclegan" >&2
  exit 2
fi
EXE=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TEST=test_report_browser

BROWSER=""
for candidate in chromium chromium-browser; do
  if command -v "$candidate" >/dev/null 2>&1; then
    BROWSER=$(command -v "$candidate")
    break
  fi
done
if [[ -z $BROWSER ]]; then
  echo "$TEST: skipped: no chromium (apt-get install chromium, or run scripts/setup.sh)"
  exit 77
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/$TEST.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  echo "$TEST: FAIL: $*" >&2
  exit 1
}

# Runs a command with its output in WORK/LOG; shows the log and fails when the command does.
step() {
  local log=$1
  shift
  if ! "$@" >"$WORK/$log.out" 2>"$WORK/$log.err"; then
    cat "$WORK/$log.out" "$WORK/$log.err" >&2
    fail "$log failed: $*"
  fi
}

RUN="$WORK/run"
step make-data "$EXE" make-data --out "$WORK/data" --size 32 --count 8 --test-count 2
step train "$EXE" train --config "$ROOT/configs/smoke.yaml" --set "data.root=$WORK/data" \
  --set "output.dir=$RUN" --set train.max_steps=6 --set output.sample_every=2
step report "$EXE" report "$RUN"
[[ $(cat "$WORK/report.out") == "$RUN/report.html" ]] ||
  fail "report printed '$(cat "$WORK/report.out")', expected $RUN/report.html"

# A profile of our own: no first-run state, no clash with a browser the user has open.
BROWSER_FLAGS=(--headless --no-sandbox --disable-gpu --disable-dev-shm-usage
  --user-data-dir="$WORK/profile" --virtual-time-budget=5000)
URL="file://$RUN/report.html"
timeout 120 "$BROWSER" "${BROWSER_FLAGS[@]}" --dump-dom "$URL" >"$WORK/dom.html" \
  2>"$WORK/chromium.err" || { tail -n 20 "$WORK/chromium.err" >&2; fail "chromium --dump-dom failed"; }
timeout 120 "$BROWSER" "${BROWSER_FLAGS[@]}" --window-size=1280,2400 \
  --screenshot="$WORK/report.png" "$URL" >/dev/null 2>>"$WORK/chromium.err" ||
  { tail -n 20 "$WORK/chromium.err" >&2; fail "chromium --screenshot failed"; }

# count PATTERN: matches of an extended regex in the DOM (each tag on its own line first).
count() { sed 's/</\n</g' "$WORK/dom.html" | grep -cE "$1" || true; }

charts=$(count '^<svg class="curve" data-chart="')
polylines=$(count '^<polyline data-series="[a-z_]+"[^>]* points="[0-9.]+,[0-9.]+ [0-9.]+,[0-9.]+')
images=$(count '^<img class="sample"')
loaded=$(count '^<img class="sample"[^>]* data-state="loaded"')
broken=$(count '^<img class="sample"[^>]* data-state="broken"')
samples=$(find "$RUN/samples" -name 'step_*.png' | wc -l)
shot_bytes=$(wc -c <"$WORK/report.png" 2>/dev/null || echo 0)

[[ $charts -eq 7 ]] || fail "expected 7 curve charts in the DOM, found $charts"
[[ $polylines -ge 8 ]] || fail "expected 8 polylines with points (d_a, d_b and one per other chart), found $polylines"
[[ $broken -eq 0 ]] || fail "$broken sample image(s) did not load"
[[ $loaded -eq $images ]] || fail "only $loaded of $images sample images report data-state=loaded"
[[ $samples -ge 2 ]] || fail "training wrote $samples sample grids, expected at least 2"
[[ $images -eq $((samples + 1)) ]] || fail "expected $((samples + 1)) sample images (the newest twice), found $images"
[[ $(head -c 4 "$WORK/report.png" | tail -c 3) == PNG ]] || fail "the screenshot is not a PNG"
[[ $shot_bytes -gt 20000 ]] || fail "the screenshot is only $shot_bytes bytes"

echo "$TEST: $charts charts, $polylines polylines drawn, $loaded/$images sample images loaded" \
  "(0 broken), screenshot 1280x2400 $shot_bytes bytes"
