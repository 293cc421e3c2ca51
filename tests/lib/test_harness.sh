# shellcheck shell=bash
# Shared by tests/test_download_data.sh and tests/test_download_model.sh, which source it (after
# `set -uo pipefail`) once they have set:
#   TEST     the test's name, for messages
#   SCRIPT   the download script under test
#   URL_ENV  the script's base-URL variable, pointed at the local server by `run`
# Then: th_setup TOOL... (makes WORK and SERVE, the folder the server serves), write the files to
# serve, th_start_server FILE (serves SERVE on 127.0.0.1 at BASE), then `run` and `check` each
# case, and end with th_summary.

PY=/usr/bin/python3

# th_setup TOOL...: checks for python3 and the TOOLs; makes WORK (removed on exit) and SERVE in it.
th_setup() {
  local tool
  if [[ ! -x $PY ]]; then
    # shellcheck disable=SC2153  # TEST is set by the sourcing test
    echo "$TEST: $PY is missing (apt-get install python3)" >&2
    exit 1
  fi
  for tool in "$@"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "$TEST: $tool is missing (apt-get install $tool, or run scripts/setup.sh)" >&2
      exit 1
    fi
  done

  WORK=$(mktemp -d "${TMPDIR:-/tmp}/$TEST.XXXXXX")
  SERVER_PID=""
  trap th_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  SERVE="$WORK/serve"
  mkdir -p "$SERVE"
  # shellcheck disable=SC2034  # for the sourcing test: where the script under test downloads to
  DEST="$WORK/dest"
}

th_cleanup() {
  if [[ -n $SERVER_PID ]]; then
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  rm -rf "$WORK"
}

# th_start_server FILE: serves SERVE on a free port of 127.0.0.1, sets BASE to its URL, and waits
# until it serves FILE.
th_start_server() {
  local port
  port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  "$PY" -m http.server --bind 127.0.0.1 --directory "$SERVE" "$port" >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  BASE="http://127.0.0.1:$port"
  for _ in $(seq 100); do
    curl --silent --fail --output /dev/null "$BASE/$1" && break
    sleep 0.05
  done
  if ! curl --silent --fail --output /dev/null "$BASE/$1"; then
    echo "$TEST: the test server on $BASE did not answer" >&2
    cat "$WORK/server.log" >&2
    exit 1
  fi
}

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

rc=0
run() {  # run [ENV=VALUE...] -- ARGS...: runs the script, sets rc, stdout in $WORK/out, stderr in $WORK/err
  local env=()
  while [[ $1 != -- ]]; do env+=("$1"); shift; done
  shift
  rc=0
  # shellcheck disable=SC2034  # rc is read by the sourcing test
  env CYCLEGAN_ALLOW_ANY_NAME=1 "$URL_ENV=$BASE" "${env[@]}" \
    bash "$SCRIPT" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null || rc=$?
}
err_has() { local p; for p in "$@"; do grep -q -- "$p" "$WORK/err" || return 1; done; }
out_has() { local p; for p in "$@"; do grep -q -- "$p" "$WORK/out" || return 1; done; }

# th_summary: prints "N passed, M failed"; its status (the test's, when last) is 0 if none failed.
th_summary() {
  echo "$passed passed, $failed failed"
  ((failed == 0))
}
