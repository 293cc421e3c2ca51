#!/usr/bin/env bash
# Downloads one of the official CycleGAN datasets and unpacks it to DEST_DIR/NAME/{trainA,trainB,testA,testB}.
# Run with --help for usage. Needs curl and unzip (scripts/setup.sh installs both).
set -euo pipefail

PROG=$(basename "$0")
KIND=dataset
URL_ENV=CYCLEGAN_DATA_URL
DEFAULT_BASE=http://efrosgans.eecs.berkeley.edu/cyclegan/datasets
NAMES=(apple2orange summer2winter_yosemite horse2zebra monet2photo cezanne2photo ukiyoe2photo
       vangogh2photo maps cityscapes facades iphone2dslr_flower ae_photos)
FOLDERS=(trainA trainB testA testB)

usage() {
  cat <<USAGE
Usage: $PROG NAME [DEST_DIR]

Downloads the CycleGAN dataset NAME and unpacks it to DEST_DIR/NAME/{trainA,trainB,testA,testB}.
DEST_DIR defaults to 'datasets' (relative to the current directory). If the dataset is already
there, nothing is downloaded. On success the dataset's path is printed on stdout.

NAME is one of:
  ${NAMES[*]:0:6}
  ${NAMES[*]:6}

Environment:
  CYCLEGAN_DATA_URL=URL      base URL to fetch URL/NAME.zip from
                             (default: $DEFAULT_BASE)
  CYCLEGAN_ALLOW_ANY_NAME=1  accept any NAME (letters, digits, '_', '-', '.'), not only the
                             official ones; for testing and for mirrors with other datasets

Exit status: 0 done (or already present), 1 download or unpack failed, 2 bad arguments.
Needs curl and unzip (scripts/setup.sh installs them).
USAGE
}

# shellcheck source=SCRIPTDIR/lib/download_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/download_common.sh"

dl_parse_args datasets "$@"
URL="$BASE/$NAME.zip"
TARGET="${DEST_DIR%/}/$NAME"

# Prints the names of the four folders that DIR lacks (nothing when it has them all).
missing_folders() {
  local f
  for f in "${FOLDERS[@]}"; do [[ -d $1/$f ]] || printf '%s ' "$f"; done
}

# --- already there? ------------------------------------------------------------------------------
if [[ -e $TARGET || -L $TARGET ]]; then
  [[ -d $TARGET ]] || die "$TARGET exists and is not a folder; move it away and rerun"
  missing=$(missing_folders "$TARGET")
  if [[ -z $missing ]]; then
    echo "$PROG: $TARGET already has ${FOLDERS[*]}; nothing to download" >&2
    echo "$TARGET"
    exit 0
  fi
  # An empty folder is harmless (the rename below replaces it); anything else is someone's data.
  if [[ -n $(ls -A "$TARGET") ]]; then
    die "$TARGET exists but lacks ${missing% }; remove it and rerun"
  fi
fi

# --- tools ---------------------------------------------------------------------------------------
dl_require_tools curl unzip

# --- download and unpack into temporaries inside DEST_DIR, then rename into place ----------------
dl_make_dir "$DEST_DIR"
dl_set_traps
tmp_zip=$(mktemp "${DEST_DIR%/}/.$NAME.download.XXXXXX") || die "cannot write to $DEST_DIR"
DL_TEMPS+=("$tmp_zip")
tmp_dir=$(mktemp -d "${DEST_DIR%/}/.$NAME.extract.XXXXXX") || die "cannot write to $DEST_DIR"
DL_TEMPS+=("$tmp_dir")
dl_download "$URL" "$tmp_zip" "$tmp_dir/.curl.code" "$tmp_dir/.curl.err"

magic=$(head -c 4 "$tmp_zip" | od -An -tx1 | tr -d ' \n')
if [[ $magic != 504b0304 && $magic != 504b0506 ]]; then
  die "$URL is not a zip file (got $(wc -c <"$tmp_zip") bytes starting with '$(head -c 40 "$tmp_zip" | tr -c '[:print:]' '.')')"
fi

echo "$PROG: unpacking into $TARGET" >&2
if ! unzip -q -o "$tmp_zip" -d "$tmp_dir" </dev/null >"$tmp_dir/.unzip.log" 2>&1; then
  die "$URL is a corrupt or truncated zip file (unzip failed: $(grep -m 1 -iE 'error|signature|not|cannot' "$tmp_dir/.unzip.log" | sed -e 's/^ *//' -e 's/\. .*//'))"
fi
rm -f "$tmp_dir/.unzip.log"
rm -f "$tmp_zip"

# The official zips hold one top folder NAME/ with the four folders; accept also a single top
# folder of another name, or the four folders at the top.
root=$tmp_dir
if [[ -d $tmp_dir/$NAME ]]; then
  root=$tmp_dir/$NAME
else
  shopt -s nullglob dotglob
  entries=()
  for e in "$tmp_dir"/*; do [[ $(basename "$e") == __MACOSX ]] || entries+=("$e"); done
  shopt -u nullglob dotglob
  if ((${#entries[@]} == 1)) && [[ -d ${entries[0]} ]] && [[ -n $(missing_folders "$tmp_dir") ]]; then
    root=${entries[0]}
  fi
fi
missing=$(missing_folders "$root")
if [[ -n $missing ]]; then
  die "$URL does not contain $NAME/{${FOLDERS[*]}}: missing ${missing% }"
fi

# rename(2) within DEST_DIR: DEST_DIR/NAME appears whole or not at all.
mv -T "$root" "$TARGET" 2>/dev/null || die "cannot move the unpacked dataset to $TARGET (does it exist now?)"
echo "$TARGET"
