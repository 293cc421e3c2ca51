# shellcheck shell=bash
# Shared by scripts/sanitize.sh and scripts/fuzz.sh, which source it (after `set -euo pipefail`,
# from the repository root): one clang build, build-sanitize/, holds the unit tests and the
# fuzzers, with our own code under AddressSanitizer + UBSan (LibTorch and OpenCV are not
# instrumented), and the sanitizer options make any report fail the run.

SANITIZE_BUILD_DIR=${SANITIZE_BUILD_DIR:-build-sanitize}
JOBS=${JOBS:-2}

# sanitize_build TARGET...: configures $SANITIZE_BUILD_DIR (clang, -O1 with line tables so reports
# have file:line) and builds the named targets (all when none).
sanitize_build() {
  if ! command -v clang++ >/dev/null ||
     ! compgen -G "$(clang++ --print-runtime-dir)/libclang_rt.fuzzer*.a" >/dev/null; then
    echo "sanitize: needs clang++ and its sanitizer/libFuzzer runtimes;" \
         "scripts/setup.sh installs them (clang, libclang-rt-14-dev)" >&2
    exit 1
  fi
  CC=clang CXX=clang++ cmake -S . -B "$SANITIZE_BUILD_DIR" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only -DNDEBUG" \
    -DCYCLEGAN_SANITIZE=ON -DCYCLEGAN_BUILD_FUZZERS=ON >/dev/null
  local targets=()
  for target in "$@"; do targets+=(--target "$target"); done
  cmake --build "$SANITIZE_BUILD_DIR" --parallel "$JOBS" "${targets[@]}"
}

# Any report is fatal: ASan and UBSan stop at the first error and abort (a test then fails on the
# signal; libFuzzer keeps the input), and LeakSanitizer's report at exit aborts too. LibTorch is not
# instrumented, yet it needs no exception: its one-time allocations stay reachable from globals
# (no leak report), and no ODR or alloc/dealloc-mismatch report came from it, so there is no
# suppression file and no check is turned off.
export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1:detect_leaks=1:strict_string_checks=1:check_initialization_order=1
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
