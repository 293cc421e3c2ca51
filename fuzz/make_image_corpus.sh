#!/usr/bin/env bash
# Regenerates fuzz/corpus/fuzz_image/: builds fuzz/make_image_corpus.cpp against the system
# OpenCV, writes one tiny file per format variant, and adds the CMYK and EXIF-rotated JPEGs of
# tests/data/images/ (OpenCV writes neither).
#   fuzz/make_image_corpus.sh
set -euo pipefail
cd "$(dirname "$0")/.."

out=fuzz/corpus/fuzz_image
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# shellcheck disable=SC2046  # pkg-config prints several flags on purpose
g++ -std=c++17 -O1 -Wall -Wextra fuzz/make_image_corpus.cpp -o "$work/make_image_corpus" \
  $(pkg-config --cflags --libs opencv4) -lz
mkdir -p "$out"
"$work/make_image_corpus" "$out"
cp tests/data/images/cmyk.jpg "$out/cmyk.jpg"
cp tests/data/images/exif_rotated.jpg "$out/exif_rotated.jpg"
