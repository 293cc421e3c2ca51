#!/usr/bin/env bash
# Builds a real, *paired* image-to-image dataset (Apple emoji <-> Google emoji) for measuring
# translation quality: train on unpaired halves, then compare translations of the test set
# against the other vendor's drawing of the same emoji.
#
#   bash scripts/download_emoji_data.sh OUT_DIR [SIZE]     # SIZE defaults to 64
#
# Writes OUT_DIR/{trainA,trainB,testA,testA_gt,testB,testB_gt}; A = Apple, B = Google, files named
# by code point (1f600.png). testA_gt/X.png is the Google image of testA/X.png, testB_gt the reverse.
# Needs npm (the images come from the npm packages emoji-datasource-{apple,google}) and
# /usr/bin/python3 with Debian's python3-pil to flatten and resize the PNGs.
set -euo pipefail

VERSION=16.0.0
usage() { echo "usage: $(basename "$0") OUT_DIR [SIZE]   (SIZE: square side in pixels, default 64)" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || usage
OUT=${1%/}
SIZE=${2:-64}
[[ -n $OUT && $SIZE =~ ^[1-9][0-9]*$ ]] || usage

# Never mix a new dataset into an old one.
if [[ -e $OUT && ! -d $OUT ]] || [[ -d $OUT && -n $(ls -A "$OUT") ]]; then
  echo "error: $OUT already exists and is not empty; remove it or choose another OUT_DIR" >&2
  exit 1
fi
command -v npm >/dev/null || { echo "error: npm not found (apt-get install npm)" >&2; exit 1; }
# Debian's PIL, not pip's: the project takes nothing from PyPI.
if ! /usr/bin/python3 -c 'import PIL.Image' 2>/dev/null; then
  echo "error: /usr/bin/python3 cannot import PIL; install it: apt-get install python3-pil" >&2
  exit 1
fi

# Build in OUT.partial and rename at the end, so an interrupted run never leaves a half-written OUT.
PARTIAL=$OUT.partial
TMP=$(mktemp -d)
trap 'rm -rf "$TMP" "$PARTIAL"' EXIT
rm -rf "$PARTIAL"
mkdir -p "$PARTIAL"/{trainA,trainB,testA,testA_gt,testB,testB_gt}

echo "fetching emoji-datasource-{apple,google}@$VERSION from npm ..." >&2
(cd "$TMP" && npm pack --silent "emoji-datasource-apple@$VERSION" "emoji-datasource-google@$VERSION" >/dev/null)
# Each tarball holds package/img/VENDOR/64/<codepoints>.png (plus sprite sheets we don't need).
for vendor in apple google; do
  mkdir "$TMP/$vendor"
  tar xzf "$TMP/emoji-datasource-$vendor-$VERSION.tgz" -C "$TMP/$vendor" "package/img/$vendor/64"
done
APPLE=$TMP/apple/package/img/apple/64
GOOGLE=$TMP/google/package/img/google/64

# Pair by file name: keep only emoji that both vendors draw. LC_ALL=C: the same order everywhere.
export LC_ALL=C
pngs() { find "$1" -maxdepth 1 -name '*.png' -printf '%f\n' | sort; }
comm -12 <(pngs "$APPLE") <(pngs "$GOOGLE") >"$TMP/paired"

# Split by emoji, not by file: skin-tone variants (modifiers 1f3fb..1f3ff) share a group key, so
# 👋🏻 in training can't leak 👋🏽 into the test set. Groups in sorted order: every 10th goes to test;
# the rest alternate between trainA and trainB, so no emoji appears on both training sides.
awk '
  NR == FNR { side[$0] = (FNR % 10 == 0) ? "test" : (t++ % 2 ? "B" : "A"); next }
  { key = $0; gsub(/-1f3f[b-f]/, "", key); print side[key], $0 }
' <(sed 's/-1f3f[b-f]//g' "$TMP/paired" | sort -u) "$TMP/paired" >"$TMP/split"

# One "source<TAB>destination" line per output image (tabs: OUT_DIR may contain spaces).
job() { printf '%s\t%s\n' "$1/$name" "$PARTIAL/$2/$name"; }
while read -r side name; do
  case $side in
    A) job "$APPLE" trainA ;;
    B) job "$GOOGLE" trainB ;;
    test) job "$APPLE" testA; job "$GOOGLE" testA_gt; job "$GOOGLE" testB; job "$APPLE" testB_gt ;;
  esac
done <"$TMP/split" >"$TMP/jobs"

# The trainer reads RGB: put the (RGBA, LA or palette) emoji on white, then resize if asked.
echo "converting $(wc -l <"$TMP/jobs") images to ${SIZE}x$SIZE RGB ..." >&2
/usr/bin/python3 - "$SIZE" "$TMP/jobs" <<'PY'
import sys
from PIL import Image
size = int(sys.argv[1])
for line in open(sys.argv[2]):
    src, dst = line.rstrip("\n").split("\t")
    im = Image.open(src).convert("RGBA")
    rgb = Image.new("RGB", im.size, "white")
    rgb.paste(im, mask=im.getchannel("A"))
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.LANCZOS)
    rgb.save(dst)
PY

if [[ -d $OUT ]]; then rmdir "$OUT"; fi  # empty (checked above); mv needs the name free
mv "$PARTIAL" "$OUT"
for d in trainA trainB testA testB; do
  echo "$d: $(find "$OUT/$d" -name "*.png" | wc -l) images"
done
echo "wrote $OUT (paired ground truth in testA_gt, testB_gt)"
