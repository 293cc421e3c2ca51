#!/usr/bin/env bash
# Tests scripts/download_cyclegan_model.sh against a local HTTP server (python3 -m http.server on
# 127.0.0.1) serving small files: a zip checkpoint, a legacy (pickle) checkpoint, and an HTML page.
# Prints one line per check and "N passed, M failed"; exits non-zero if any check failed.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TEST=test_download_model
SCRIPT="$HERE/../scripts/download_cyclegan_model.sh"
URL_ENV=CYCLEGAN_MODEL_URL
# shellcheck source=SCRIPTDIR/lib/test_harness.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/test_harness.sh"

th_setup curl
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

th_start_server demo.pth

model() { echo "$DEST/$1_pretrained/latest_net_G.pth"; }  # model NAME: where NAME is stored
no_temporaries() { [[ -z $(find "$DEST" -mindepth 1 -name '.*' 2>/dev/null) ]]; }
left_nothing() { [[ ! -e $DEST/$1_pretrained ]] && no_temporaries; }  # left_nothing NAME

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

th_summary
