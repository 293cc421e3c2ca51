#!/usr/bin/env bash
# Tests scripts/download_cyclegan_model.sh against a local HTTP server (python3 -m http.server on
# 127.0.0.1) serving small files: a zip checkpoint, a legacy (pickle) checkpoint, and an HTML page.
# Prints one line per check and "N passed, M failed"; exits non-zero if any check failed.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SCRIPT="$HERE/../scripts/download_cyclegan_model.sh"
PY=/usr/bin/python3

if [[ ! -x $PY ]]; then
  echo "test_download_model: $PY is missing (apt-get install python3)" >&2
  exit 1
fi
if ! command -v curl >/dev/null 2>&1; then
  echo "test_download_model: curl is missing (apt-get install curl, or run scripts/setup.sh)" >&2
  exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_download_model.XXXXXX")
SERVER_PID=""
cleanup() {
  if [[ -n $SERVER_PID ]]; then
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

SERVE="$WORK/serve"
mkdir -p "$SERVE"
# Real checkpoints when Debian's python3-torch is there; otherwise files that start the same way.
"$PY" - "$SERVE" <<'PY'
import os, sys
os.chdir(sys.argv[1])
try:
    import torch
    torch.save({"w": torch.zeros(2)}, "demo.pth")
    torch.save({"w": torch.zeros(2)}, "legacy.pth", _use_new_zipfile_serialization=False)
except Exception as e:  # no torch (or a broken one): the script only looks at the first bytes
    print(f"test_download_model: note: no torch ({e}); serving stand-in checkpoints", file=sys.stderr)
    with open("demo.pth", "wb") as f:
        f.write(b"PK\x03\x04" + bytes(range(256)) * 4)
    with open("legacy.pth", "wb") as f:
        f.write(b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19." + bytes(range(256)) * 4)
with open("html.pth", "w") as f:
    f.write("<html>not a model</html>\n")
PY

PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
"$PY" -m http.server --bind 127.0.0.1 --directory "$SERVE" "$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 100); do
  curl --silent --fail --output /dev/null "$BASE/demo.pth" && break
  sleep 0.05
done
if ! curl --silent --fail --output /dev/null "$BASE/demo.pth"; then
  echo "test_download_model: the test server on $BASE did not answer" >&2
  cat "$WORK/server.log" >&2
  exit 1
fi

passed=0
failed=0
check() {  # check DESCRIPTION CONDITION...
  local what=$1
  shift
  if "$@"; then
    echo "PASS: $what"
    passed=$((passed + 1))
  else
    echo "FAIL: $what"
    echo "      stdout: $(cat "$WORK/out")"
    echo "      stderr: $(cat "$WORK/err")"
    failed=$((failed + 1))
  fi
}

DEST="$WORK/dest"
rc=0
run() {  # run [ENV=VALUE...] -- ARGS...: runs the script, sets rc, stdout in $WORK/out, stderr in $WORK/err
  local env=()
  while [[ $1 != -- ]]; do env+=("$1"); shift; done
  shift
  rc=0
  env CYCLEGAN_ALLOW_ANY_NAME=1 CYCLEGAN_MODEL_URL="$BASE" "${env[@]}" \
    bash "$SCRIPT" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null || rc=$?
}
model() { echo "$DEST/$1_pretrained/latest_net_G.pth"; }  # model NAME: where NAME is stored
no_temporaries() { [[ -z $(find "$DEST" -mindepth 1 -name '.*' 2>/dev/null) ]]; }
left_nothing() { [[ ! -e $DEST/$1_pretrained ]] && no_temporaries; }  # left_nothing NAME
err_has() { local p; for p in "$@"; do grep -q -- "$p" "$WORK/err" || return 1; done; }
out_has() { local p; for p in "$@"; do grep -q -- "$p" "$WORK/out" || return 1; done; }

# a good download (zip checkpoint)
run -- demo "$DEST"
check "good download exits 0" test "$rc" -eq 0
check "good download puts DEST/demo_pretrained/latest_net_G.pth in place, identical bytes" \
  cmp -s "$SERVE/demo.pth" "$(model demo)"
check "good download prints the file path" test "$(cat "$WORK/out")" = "$(model demo)"
check "good download leaves no temporaries" no_temporaries

# a legacy (pre-1.6, pickle) checkpoint is accepted too
run -- legacy "$DEST"
check "legacy checkpoint exits 0" test "$rc" -eq 0
check "legacy checkpoint is in place, identical bytes" cmp -s "$SERVE/legacy.pth" "$(model legacy)"
check "legacy checkpoint prints the file path" test "$(cat "$WORK/out")" = "$(model legacy)"

# running again is a no-op
run CYCLEGAN_MODEL_URL=http://127.0.0.1:1 -- demo "$DEST"
check "second run exits 0 without downloading (server URL unreachable)" test "$rc" -eq 0
check "second run says the file is already there" grep -q 'already' "$WORK/err"
check "second run prints the file path" test "$(cat "$WORK/out")" = "$(model demo)"
check "second run leaves the file as it was" cmp -s "$SERVE/demo.pth" "$(model demo)"

# a name the server does not have: HTTP 404
run -- missing "$DEST"
check "404 exits 1" test "$rc" -eq 1
check "404 names the URL and says 404" grep -q "$BASE/missing.pth.*404" "$WORK/err"
check "404 leaves no DEST/NAME_pretrained/latest_net_G.pth and no temporaries" \
  left_nothing missing

# an official name passes the name check (and is then fetched from CYCLEGAN_MODEL_URL)
run CYCLEGAN_ALLOW_ANY_NAME=0 -- horse2zebra "$DEST"
check "official name is fetched from CYCLEGAN_MODEL_URL (404 there: exit 1)" \
  err_has "$BASE/horse2zebra.pth.*404"

# a file that is not a checkpoint (an HTML page)
run -- html "$DEST"
check "HTML file exits 1" test "$rc" -eq 1
check "HTML file is reported as not a PyTorch checkpoint" \
  err_has 'not a PyTorch checkpoint' '<html>not a model'
check "HTML file leaves no DEST/NAME_pretrained/latest_net_G.pth and no temporaries" \
  left_nothing html

# an unreachable server
run CYCLEGAN_MODEL_URL=http://127.0.0.1:1 -- offline "$DEST"
check "unreachable server exits 1" test "$rc" -eq 1
check "unreachable server message names the URL and CYCLEGAN_MODEL_URL" \
  err_has "http://127.0.0.1:1/offline.pth" CYCLEGAN_MODEL_URL
check "unreachable server leaves no DEST/NAME_pretrained and no temporaries" \
  left_nothing offline

# an unknown model name (without CYCLEGAN_ALLOW_ANY_NAME)
run CYCLEGAN_ALLOW_ANY_NAME=0 -- demo "$DEST/other"
check "unknown model name exits 2" test "$rc" -eq 2
check "unknown model name prints usage listing the official names" \
  err_has horse2zebra iphone2dslr_flower '^Usage:'
check "unknown model name creates nothing" test ! -e "$DEST/other"

# --help
run -- --help
check "--help exits 0" test "$rc" -eq 0
check "--help prints usage on stdout, naming CYCLEGAN_MODEL_URL, CYCLEGAN_ALLOW_ANY_NAME, translate" \
  out_has '^Usage:' CYCLEGAN_MODEL_URL CYCLEGAN_ALLOW_ANY_NAME 'cyclegan translate --ckpt'

echo "$passed passed, $failed failed"
((failed == 0))
