#!/usr/bin/env bash
# Downloads one of the official pretrained CycleGAN generators to DEST_DIR/NAME_pretrained/latest_net_G.pth,
# the layout of the official scripts/download_cyclegan_model.sh.
# Run with --help for usage. Needs curl (scripts/setup.sh installs it).
set -euo pipefail

PROG=$(basename "$0")
KIND=model
URL_ENV=CYCLEGAN_MODEL_URL
DEFAULT_BASE=http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models
NAMES=(apple2orange orange2apple summer2winter_yosemite winter2summer_yosemite horse2zebra zebra2horse
       monet2photo style_monet style_cezanne style_ukiyoe style_vangogh sat2map
       map2sat cityscapes_photo2label cityscapes_label2photo facades_photo2label facades_label2photo
       iphone2dslr_flower)
FILE_NAME=latest_net_G.pth

usage() {
  cat <<USAGE
Usage: $PROG NAME [DEST_DIR]

Downloads the official CycleGAN project's pretrained generator NAME to
DEST_DIR/NAME_pretrained/$FILE_NAME, the layout of its scripts/download_cyclegan_model.sh.
DEST_DIR defaults to 'checkpoints' (relative to the current directory). If the file is already
there, nothing is downloaded. On success the file's path is printed on stdout.

NAME is one of:
  ${NAMES[*]:0:4}
  ${NAMES[*]:4:7}
  ${NAMES[*]:11:4}
  ${NAMES[*]:15}

Then, for example:
  cyclegan translate --ckpt checkpoints/horse2zebra_pretrained/$FILE_NAME IMAGES
translates IMAGES with it directly (the architecture is inferred from its keys), and
  cyclegan import checkpoints/horse2zebra_pretrained/$FILE_NAME -o g_AB.pt
converts it into our generator format.

Environment:
  CYCLEGAN_MODEL_URL=URL     base URL to fetch URL/NAME.pth from
                             (default: $DEFAULT_BASE)
  CYCLEGAN_ALLOW_ANY_NAME=1  accept any NAME (letters, digits, '_', '-', '.'), not only the
                             official ones; for testing and for mirrors with other models

Exit status: 0 done (or already present), 1 download failed, 2 bad arguments.
Needs curl (scripts/setup.sh installs it).
USAGE
}

# shellcheck source=SCRIPTDIR/lib/download_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/download_common.sh"

dl_parse_args checkpoints "$@"
URL="$BASE/$NAME.pth"
MODEL_DIR="${DEST_DIR%/}/${NAME}_pretrained"
TARGET="$MODEL_DIR/$FILE_NAME"

# --- already there? ------------------------------------------------------------------------------
if [[ -e $MODEL_DIR || -L $MODEL_DIR ]]; then
  [[ -d $MODEL_DIR ]] || die "$MODEL_DIR exists and is not a folder; move it away and rerun"
fi
if [[ -e $TARGET || -L $TARGET ]]; then
  [[ -f $TARGET ]] || die "$TARGET exists and is not a file; move it away and rerun"
  if [[ -s $TARGET ]]; then
    echo "$PROG: $TARGET already exists; nothing to download" >&2
    echo "$TARGET"
    exit 0
  fi
  # An empty file is what an interrupted copy by other means leaves; the rename below replaces it.
  echo "$PROG: $TARGET is empty; downloading it again" >&2
fi

# --- tools ---------------------------------------------------------------------------------------
dl_require_tools curl

# --- download into a temporary file inside DEST_DIR/NAME_pretrained, then rename into place -------
dl_make_dir "$DEST_DIR"
dl_make_dir "$MODEL_DIR"
dl_set_traps
tmp_file=$(mktemp "$MODEL_DIR/.$FILE_NAME.download.XXXXXX") || die "cannot write to $MODEL_DIR"
DL_TEMPS+=("$tmp_file")
tmp_code=$(mktemp "$MODEL_DIR/.$FILE_NAME.code.XXXXXX") || die "cannot write to $MODEL_DIR"
DL_TEMPS+=("$tmp_code")
tmp_err=$(mktemp "$MODEL_DIR/.$FILE_NAME.err.XXXXXX") || die "cannot write to $MODEL_DIR"
DL_TEMPS+=("$tmp_err")
dl_download "$URL" "$tmp_file" "$tmp_code" "$tmp_err"

# torch.save writes a zip (PK\x03\x04) since PyTorch 1.6, and a pickle (protocol 2: 0x80) before;
# anything else (an HTML error page, an empty file) is not a model.
magic=$(head -c 4 "$tmp_file" | od -An -tx1 | tr -d ' \n')
if [[ $magic != 504b0304 && $magic != 80* ]]; then
  die "$URL is not a PyTorch checkpoint (got $(wc -c <"$tmp_file") bytes starting with '$(head -c 40 "$tmp_file" | tr -c '[:print:]' '.')')"
fi

# mktemp made the file private (0600); give it the permissions a new file gets under the umask.
chmod "$(printf '%o' $((0666 & ~$(umask))))" "$tmp_file" || true
# rename(2) within MODEL_DIR: TARGET appears whole or not at all.
mv -f "$tmp_file" "$TARGET" 2>/dev/null || die "cannot move the downloaded file to $TARGET"
echo "$TARGET"
