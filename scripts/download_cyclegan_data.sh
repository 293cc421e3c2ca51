#!/usr/bin/env bash
# Downloads one of the official CycleGAN datasets and unpacks it to DEST_DIR/NAME/{trainA,trainB,testA,testB}.
# Run with --help for usage. Needs curl and unzip (scripts/setup.sh installs both).
set -euo pipefail

PROG=$(basename "$0")
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
(($# >= 1)) || bad_usage "missing dataset NAME"
(($# <= 2)) || bad_usage "too many arguments: $*"
NAME=$1
DEST_DIR=${2:-datasets}
[[ -n $DEST_DIR ]] || bad_usage "DEST_DIR must not be empty"

if [[ ${CYCLEGAN_ALLOW_ANY_NAME:-0} == 1 ]]; then
  [[ $NAME =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] ||
    bad_usage "invalid dataset name '$NAME' (letters, digits, '_', '-', '.'; not starting with '.' or '-')"
else
  known=0
  for n in "${NAMES[@]}"; do [[ $NAME == "$n" ]] && known=1; done
  ((known)) || bad_usage "unknown dataset '$NAME'"
fi

BASE=${CYCLEGAN_DATA_URL:-$DEFAULT_BASE}
BASE=${BASE%/}
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
for tool in curl unzip; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "'$tool' is not installed; install it (apt-get install $tool) or run scripts/setup.sh"
done

# --- download and unpack into temporaries inside DEST_DIR, then rename into place ----------------
made_dest=0
if [[ ! -d $DEST_DIR ]]; then
  mkdir -p "$DEST_DIR" || die "cannot create $DEST_DIR"
  made_dest=1
fi
tmp_zip=""
tmp_dir=""
curl_pid=""
cleanup() {
  if [[ -n $curl_pid ]]; then kill "$curl_pid" 2>/dev/null || true; wait "$curl_pid" 2>/dev/null || true; fi
  if [[ -n $tmp_zip ]]; then rm -f "$tmp_zip" || true; fi
  if [[ -n $tmp_dir ]]; then rm -rf "$tmp_dir" || true; fi
  # A failed run leaves no trace: drop DEST_DIR again if this run made it and it is still empty.
  if ((made_dest)); then rmdir "$DEST_DIR" 2>/dev/null || true; fi
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
tmp_zip=$(mktemp "${DEST_DIR%/}/.$NAME.download.XXXXXX") || die "cannot write to $DEST_DIR"
tmp_dir=$(mktemp -d "${DEST_DIR%/}/.$NAME.extract.XXXXXX") || die "cannot write to $DEST_DIR"

echo "$PROG: downloading $URL" >&2
# curl runs in the background so that a signal reaches the traps above at once, not when it ends.
curl --fail --location --silent --show-error --connect-timeout 20 \
     --write-out '%{http_code}' --output "$tmp_zip" "$URL" >"$tmp_dir/.curl.code" 2>"$tmp_dir/.curl.err" &
curl_pid=$!
curl_rc=0
wait "$curl_pid" || curl_rc=$?
curl_pid=""
http_code=$(cat "$tmp_dir/.curl.code")
curl_err=$(sed -e 's/^curl: ([0-9]*) //' -e 's/^curl: //' "$tmp_dir/.curl.err" | tr '\n' ' ')
curl_err=${curl_err% }
rm -f "$tmp_dir/.curl.err" "$tmp_dir/.curl.code"
if ((curl_rc != 0)); then
  case $curl_rc in
    22)
      if [[ $http_code == 404 ]]; then
        die "$URL not found (HTTP 404); is '$NAME' on this server?"
      fi
      die "$URL: server answered HTTP $http_code" ;;
    5|6|7|28|35|52|56)
      die "cannot reach $URL ($curl_err); check the network, or set CYCLEGAN_DATA_URL to a mirror" ;;
    *)
      die "download of $URL failed (curl exit $curl_rc: $curl_err)" ;;
  esac
fi

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
