#!/usr/bin/env bash
# Downloads one of the official pretrained CycleGAN generators to DEST_DIR/NAME_pretrained/latest_net_G.pth,
# the layout of the official scripts/download_cyclegan_model.sh.
# Run with --help for usage. Needs curl (scripts/setup.sh installs it).
set -euo pipefail

PROG=$(basename "$0")
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

die() { echo "$PROG: error: $*" >&2; exit 1; }
bad_usage() { echo "$PROG: $*" >&2; echo >&2; usage >&2; exit 2; }

# --- arguments -----------------------------------------------------------------------------------
for arg in "$@"; do
  case $arg in
    -h|--help) usage; exit 0 ;;
    --) ;;
    -*) bad_usage "unknown option: $arg" ;;
  esac
done
[[ ${1:-} == -- ]] && shift
(($# >= 1)) || bad_usage "missing model NAME"
(($# <= 2)) || bad_usage "too many arguments: $*"
NAME=$1
DEST_DIR=${2:-checkpoints}
[[ -n $DEST_DIR ]] || bad_usage "DEST_DIR must not be empty"

if [[ ${CYCLEGAN_ALLOW_ANY_NAME:-0} == 1 ]]; then
  [[ $NAME =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] ||
    bad_usage "invalid model name '$NAME' (letters, digits, '_', '-', '.'; not starting with '.' or '-')"
else
  known=0
  for n in "${NAMES[@]}"; do [[ $NAME == "$n" ]] && known=1; done
  ((known)) || bad_usage "unknown model '$NAME'"
fi

BASE=${CYCLEGAN_MODEL_URL:-$DEFAULT_BASE}
BASE=${BASE%/}
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
command -v curl >/dev/null 2>&1 ||
  die "'curl' is not installed; install it (apt-get install curl) or run scripts/setup.sh"

# --- download into a temporary file inside DEST_DIR/NAME_pretrained, then rename into place -------
made_dest=0
made_model_dir=0
if [[ ! -d $DEST_DIR ]]; then
  mkdir -p "$DEST_DIR" || die "cannot create $DEST_DIR"
  made_dest=1
fi
if [[ ! -d $MODEL_DIR ]]; then
  mkdir "$MODEL_DIR" || die "cannot create $MODEL_DIR"
  made_model_dir=1
fi
tmp_file=""
tmp_code=""
tmp_err=""
curl_pid=""
cleanup() {
  if [[ -n $curl_pid ]]; then kill "$curl_pid" 2>/dev/null || true; wait "$curl_pid" 2>/dev/null || true; fi
  if [[ -n $tmp_file ]]; then rm -f "$tmp_file" || true; fi
  if [[ -n $tmp_code ]]; then rm -f "$tmp_code" || true; fi
  if [[ -n $tmp_err ]]; then rm -f "$tmp_err" || true; fi
  # A failed run leaves no trace: drop the folders again if this run made them and they are empty.
  if ((made_model_dir)); then rmdir "$MODEL_DIR" 2>/dev/null || true; fi
  if ((made_dest)); then rmdir "$DEST_DIR" 2>/dev/null || true; fi
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
tmp_file=$(mktemp "$MODEL_DIR/.$FILE_NAME.download.XXXXXX") || die "cannot write to $MODEL_DIR"
tmp_code=$(mktemp "$MODEL_DIR/.$FILE_NAME.code.XXXXXX") || die "cannot write to $MODEL_DIR"
tmp_err=$(mktemp "$MODEL_DIR/.$FILE_NAME.err.XXXXXX") || die "cannot write to $MODEL_DIR"

echo "$PROG: downloading $URL" >&2
# curl runs in the background so that a signal reaches the traps above at once, not when it ends.
curl --fail --location --silent --show-error --connect-timeout 20 \
     --write-out '%{http_code}' --output "$tmp_file" "$URL" >"$tmp_code" 2>"$tmp_err" &
curl_pid=$!
curl_rc=0
wait "$curl_pid" || curl_rc=$?
curl_pid=""
http_code=$(cat "$tmp_code")
curl_err=$(sed -e 's/^curl: ([0-9]*) //' -e 's/^curl: //' "$tmp_err" | tr '\n' ' ')
curl_err=${curl_err% }
rm -f "$tmp_code" "$tmp_err"
tmp_code=""
tmp_err=""
if ((curl_rc != 0)); then
  case $curl_rc in
    22)
      if [[ $http_code == 404 ]]; then
        die "$URL not found (HTTP 404); is '$NAME' on this server?"
      fi
      die "$URL: server answered HTTP $http_code" ;;
    5|6|7|28|35|52|56)
      die "cannot reach $URL ($curl_err); check the network, or set CYCLEGAN_MODEL_URL to a mirror" ;;
    *)
      die "download of $URL failed (curl exit $curl_rc: $curl_err)" ;;
  esac
fi

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
tmp_file=""
echo "$TARGET"
