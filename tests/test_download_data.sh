#!/usr/bin/env bash
# Tests scripts/download_cyclegan_data.sh against a local HTTP server (python3 -m http.server on
# 127.0.0.1) serving small zips: a good one, one missing testB, and a file that is not a zip.
# Prints one line per check and "N passed, M failed"; exits non-zero if any check failed.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TEST=test_download_data
SCRIPT="$HERE/../scripts/download_cyclegan_data.sh"
URL_ENV=CYCLEGAN_DATA_URL
# shellcheck source=SCRIPTDIR/lib/test_harness.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/test_harness.sh"

th_setup curl unzip
"$PY" - "$SERVE" <<'PY'
import sys, zipfile, os
serve = sys.argv[1]
png = b"\x89PNG\r\n\x1a\n" + b"\0" * 16  # a dummy; the script never decodes images
with zipfile.ZipFile(os.path.join(serve, "demo2demo.zip"), "w") as z:
    for folder, name in [("trainA", "a"), ("trainB", "b"), ("testA", "c"), ("testB", "d")]:
        z.writestr(f"demo2demo/{folder}/", b"")
        z.writestr(f"demo2demo/{folder}/{name}.png", png)
with zipfile.ZipFile(os.path.join(serve, "broken2broken.zip"), "w") as z:
    for folder, name in [("trainA", "a"), ("trainB", "b"), ("testA", "c")]:
        z.writestr(f"broken2broken/{folder}/{name}.png", png)
with open(os.path.join(serve, "notzip2notzip.zip"), "w") as f:
    f.write("<html><body>Not a zip</body></html>\n")
PY

th_start_server demo2demo.zip

no_temporaries() { [[ -z $(find "$DEST" -maxdepth 1 -name '.*' ! -name . 2>/dev/null) ]]; }
four_folders() {
  local f
  for f in trainA trainB testA testB; do [[ -d $1/$f ]] || return 1; done
}
has_files() { [[ -f $1/trainA/a.png && -f $1/trainB/b.png && -f $1/testA/c.png && -f $1/testB/d.png ]]; }
complete() { four_folders "$1" && has_files "$1"; }
left_nothing() { [[ ! -e $DEST/$1 ]] && no_temporaries; }  # left_nothing NAME

# (a) a good download
run -- demo2demo "$DEST"
check "good download exits 0" test "$rc" -eq 0
check "good download has trainA trainB testA testB and the files" \
  complete "$DEST/demo2demo"
check "good download prints the dataset path" test "$(cat "$WORK/out")" = "$DEST/demo2demo"
check "good download leaves no temporaries" no_temporaries

# (b) running again is a no-op
run CYCLEGAN_DATA_URL=http://127.0.0.1:1 -- demo2demo "$DEST"
check "second run exits 0 without downloading (server URL unreachable)" test "$rc" -eq 0
check "second run says the dataset is already there" grep -q 'already' "$WORK/err"
check "second run prints the dataset path" test "$(cat "$WORK/out")" = "$DEST/demo2demo"

# (c) a name the server does not have: HTTP 404
run -- missing2missing "$DEST"
check "404 exits 1" test "$rc" -eq 1
check "404 names the URL and says 404" grep -q "$BASE/missing2missing.zip.*404" "$WORK/err"
check "404 leaves no DEST/NAME and no temporaries" \
  left_nothing missing2missing

# (d) a zip without testB
run -- broken2broken "$DEST"
check "zip missing a folder exits 1" test "$rc" -eq 1
check "zip missing a folder names testB" grep -q 'missing testB' "$WORK/err"
check "zip missing a folder leaves no DEST/NAME and no temporaries" \
  left_nothing broken2broken

# a file that is not a zip
run -- notzip2notzip "$DEST"
check "non-zip file exits 1" test "$rc" -eq 1
check "non-zip file is reported as not a zip" grep -q 'not a zip' "$WORK/err"
check "non-zip file leaves no DEST/NAME and no temporaries" \
  left_nothing notzip2notzip

# (e) an unreachable server
run CYCLEGAN_DATA_URL=http://127.0.0.1:1 -- offline2offline "$DEST"
check "unreachable server exits 1" test "$rc" -eq 1
check "unreachable server message names the URL and CYCLEGAN_DATA_URL" \
  err_has "http://127.0.0.1:1/offline2offline.zip" CYCLEGAN_DATA_URL
check "unreachable server leaves no DEST/NAME and no temporaries" \
  left_nothing offline2offline

# (f) an unknown dataset name (without CYCLEGAN_ALLOW_ANY_NAME)
run CYCLEGAN_ALLOW_ANY_NAME=0 -- demo2demo "$DEST/other"
check "unknown dataset name exits 2" test "$rc" -eq 2
check "unknown dataset name prints usage listing the official names" \
  err_has horse2zebra ae_photos '^Usage:'
check "unknown dataset name creates nothing" test ! -e "$DEST/other"

# --help
run -- --help
check "--help exits 0" test "$rc" -eq 0
check "--help prints usage on stdout, naming CYCLEGAN_DATA_URL and CYCLEGAN_ALLOW_ANY_NAME" \
  out_has '^Usage:' CYCLEGAN_DATA_URL CYCLEGAN_ALLOW_ANY_NAME

th_summary
