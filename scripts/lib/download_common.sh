# shellcheck shell=bash
# Shared by scripts/download_cyclegan_data.sh and scripts/download_cyclegan_model.sh, which source it
# (after `set -euo pipefail`) once they have set:
#   PROG          the script's name, for messages
#   KIND          what NAME names, for messages: dataset, model
#   URL_ENV       the environment variable that overrides the base URL
#   DEFAULT_BASE  the base URL when $URL_ENV is unset or empty
#   NAMES         the official names (an array)
#   usage         a function that prints the usage text

die() { echo "$PROG: error: $*" >&2; exit 1; }
bad_usage() { echo "$PROG: $*" >&2; echo >&2; usage >&2; exit 2; }

# dl_parse_args DEFAULT_DEST ARGS...: handles --help and bad arguments (exit 0 and 2), and sets
# NAME, DEST_DIR (DEFAULT_DEST unless given) and BASE (the base URL, without a trailing '/').
dl_parse_args() {
  local default_dest=$1 arg n known=0
  shift
  for arg in "$@"; do
    case $arg in
      -h|--help) usage; exit 0 ;;
      --) ;;
      -*) bad_usage "unknown option: $arg" ;;
    esac
  done
  [[ ${1:-} == -- ]] && shift
  (($# >= 1)) || bad_usage "missing $KIND NAME"
  (($# <= 2)) || bad_usage "too many arguments: $*"
  NAME=$1
  DEST_DIR=${2:-$default_dest}
  [[ -n $DEST_DIR ]] || bad_usage "DEST_DIR must not be empty"

  if [[ ${CYCLEGAN_ALLOW_ANY_NAME:-0} == 1 ]]; then
    [[ $NAME =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] ||
      bad_usage "invalid $KIND name '$NAME' (letters, digits, '_', '-', '.'; not starting with '.' or '-')"
  else
    # shellcheck disable=SC2153  # NAMES is set by the sourcing script
    for n in "${NAMES[@]}"; do [[ $NAME == "$n" ]] && known=1; done
    ((known)) || bad_usage "unknown $KIND '$NAME'"
  fi

  BASE=${!URL_ENV:-$DEFAULT_BASE}
  BASE=${BASE%/}
}

# dl_require_tools TOOL...: dies naming the first TOOL that is not installed.
dl_require_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 ||
      die "'$tool' is not installed; install it (apt-get install $tool) or run scripts/setup.sh"
  done
}

# What dl_cleanup removes: the temporaries in DL_TEMPS (files or folders; the scripts append each
# one they make; one renamed into place by then is simply gone), and the folders in DL_MADE_DIRS
# (made by dl_make_dir), newest first, if they are empty.
DL_TEMPS=()
DL_MADE_DIRS=()
curl_pid=""

# dl_make_dir DIR: makes DIR (and its parents) unless it is a folder already.
dl_make_dir() {
  if [[ ! -d $1 ]]; then
    mkdir -p "$1" || die "cannot create $1"
    DL_MADE_DIRS+=("$1")
  fi
}

dl_cleanup() {
  local p i
  if [[ -n $curl_pid ]]; then kill "$curl_pid" 2>/dev/null || true; wait "$curl_pid" 2>/dev/null || true; fi
  for p in "${DL_TEMPS[@]}"; do rm -rf "$p" || true; done
  # A failed run leaves no trace: drop the folders again if this run made them and they are still empty.
  for ((i = ${#DL_MADE_DIRS[@]} - 1; i >= 0; i--)); do rmdir "${DL_MADE_DIRS[i]}" 2>/dev/null || true; done
  return 0
}

# dl_set_traps: from here on, any exit (signals included) runs dl_cleanup.
dl_set_traps() {
  trap dl_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
}

# dl_download URL OUTPUT CODE_FILE ERR_FILE: downloads URL to OUTPUT (CODE_FILE and ERR_FILE hold
# curl's HTTP code and errors meanwhile, and are removed after); dies with the reason if it fails.
dl_download() {
  local url=$1 output=$2 code_file=$3 err_file=$4 curl_rc=0 http_code curl_err
  echo "$PROG: downloading $url" >&2
  # curl runs in the background so that a signal reaches the traps of dl_set_traps at once, not when it ends.
  curl --fail --location --silent --show-error --connect-timeout 20 \
       --write-out '%{http_code}' --output "$output" "$url" >"$code_file" 2>"$err_file" &
  curl_pid=$!
  wait "$curl_pid" || curl_rc=$?
  curl_pid=""
  http_code=$(cat "$code_file")
  curl_err=$(sed -e 's/^curl: ([0-9]*) //' -e 's/^curl: //' "$err_file" | tr '\n' ' ')
  curl_err=${curl_err% }
  rm -f "$code_file" "$err_file"
  if ((curl_rc != 0)); then
    case $curl_rc in
      22)
        if [[ $http_code == 404 ]]; then
          die "$url not found (HTTP 404); is '$NAME' on this server?"
        fi
        die "$url: server answered HTTP $http_code" ;;
      5|6|7|28|35|52|56)
        die "cannot reach $url ($curl_err); check the network, or set $URL_ENV to a mirror" ;;
      *)
        die "download of $url failed (curl exit $curl_rc: $curl_err)" ;;
    esac
  fi
}
