#!/usr/bin/env bash
# Installs what cyclegan needs from Debian 12's packages (skipping what is present), then
# configures and builds it in build/ (Release). Safe to run again: it only does what is missing.
#
#   scripts/setup.sh            # install + build everything (tool, tests)
#   scripts/setup.sh cyclegan   # install + build only the named targets
#   BUILD_DIR=out scripts/setup.sh
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-2}  # LibTorch translation units need ~1.5 GiB each; more jobs rarely pay on 2 cores

PACKAGES=(
  cmake ninja-build g++ pkg-config
  libtorch-dev            # LibTorch 1.13 (CPU)
  libopenblas0-pthread    # Debian's LibTorch runs transposed convs through BLAS: 3x faster
  libopencv-dev libcli11-dev libspdlog-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev
  curl unzip              # scripts/download_cyclegan_data.sh
  python3                 # its test serves a zip from 127.0.0.1
  python3-torch           # tests/reference: PyTorch parity golden data (not needed at run time)
  chromium                # tests/test_report_browser.sh renders the HTML report headless
  libdnnl-dev             # oneDNN's API: Winograd and GEMM convolutions (src/kernels/)
  libgloo-dev             # Gloo's headers: c10d process groups (src/distributed.cpp)
  clang libclang-rt-14-dev  # scripts/sanitize.sh, scripts/fuzz.sh: ASan/UBSan and libFuzzer
)

# Runs "$@" with its output in LOG; meanwhile every 15 s a line says how far apt has got (packages
# fetched and set up of those it announced) and how long it has run, so nobody stares at silence.
run_with_progress() {
  local log=$1
  shift
  local start=$SECONDS
  "$@" >"$log" 2>&1 &
  local pid=$! tick=0
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if ((++tick % 15 == 0)) && kill -0 "$pid" 2>/dev/null; then
      local total fetched set_up
      total=$(grep -oE '[0-9]+ newly installed' "$log" | grep -oE '^[0-9]+' || echo '?')
      fetched=$(grep -c '^Get:' "$log" || true)
      set_up=$(grep -c '^Setting up' "$log" || true)
      echo "setup: ... $fetched/$total packages fetched, $set_up/$total set up" \
           "($((SECONDS - start)) s; log: $log)" >&2
    fi
  done
  wait "$pid"
}

missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$package")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]} (with their dependencies: several minutes)" >&2
  SUDO=()
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null; then
      SUDO=(sudo)
    else
      echo "setup: need root (or sudo) to install: ${missing[*]}" >&2
      exit 1
    fi
  fi
  echo "setup: apt-get update" >&2
  if ! "${SUDO[@]}" apt-get update -q >/tmp/cyclegan-apt-update.log 2>&1 ||
     grep -qE '^(W|E): (Failed to fetch|Some index files failed)' /tmp/cyclegan-apt-update.log; then
    echo "setup: apt-get update could not reach the Debian package registry;" \
         "check the network or proxy (log: /tmp/cyclegan-apt-update.log)" >&2
    exit 1
  fi
  echo "setup: apt-get install" >&2
  install_start=$SECONDS
  if ! run_with_progress /tmp/cyclegan-apt-install.log "${SUDO[@]}" \
       env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
       "${missing[@]}"; then
    tail -n 20 /tmp/cyclegan-apt-install.log >&2
    echo "setup: apt-get install failed for: ${missing[*]} (log: /tmp/cyclegan-apt-install.log)" >&2
    exit 1
  fi
  echo "setup: installed in $((SECONDS - install_start)) s" >&2
else
  echo "setup: all packages present" >&2
fi

echo "setup: configuring and building $BUILD_DIR (a first build compiles ~20 batches of LibTorch" \
     "code: several minutes on 2 cores; ninja shows each)" >&2
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
targets=()
for target in "$@"; do targets+=(--target "$target"); done
cmake --build "$BUILD_DIR" --parallel "$JOBS" "${targets[@]}"
echo "setup: built $BUILD_DIR/cyclegan" >&2
