#!/bin/bash
# The CUDA side of the benchmark suite, for a GPU host that has PyTorch (hence its LibTorch), CMake
# and a compiler, but no OpenCV, Gloo or package registry: the `device` machines of this project.
#
#   bash bench/gpu.sh deps         # here, on Debian: copy yaml-cpp, CLI11 and GoogleTest's
#                                  # sources (the installed packages' files) into .devdeps/usr
#   bash bench/gpu.sh run [OUT]    # there: build, the CUDA tests, then the suite, into OUT
#   bash bench/gpu.sh tests [OUT]  # there: build and run the CUDA tests only
#
# `run` builds cyclegan_bench with CYCLEGAN_BENCH_ONLY against that PyTorch's LibTorch (CMake;
# where CMake cannot configure a CUDA LibTorch, the same sources with g++ directly), and with CMake
# cyclegan_gpu_tests (tests/test_cuda_graph.cpp), which it runs first. Then it runs
# bench/run.py --device cuda: our trainer beside bench/reference_step.py under that PyTorch, the
# loss check first, after whether CUDA graph replays compute what kernel-by-kernel steps do (runs
# of fixed deterministic cuDNN algorithms). Then the configurations again without CUDA graphs
# (what they moved), and a profile of one kernel-by-kernel step.
# Environment: CONFIGS, STEPS, WARMUP, REPEAT.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
deps=${CYCLEGAN_DEPS_PREFIX:-$PWD/.devdeps/usr}

if [ "${1:-}" = deps ]; then
  for package in libyaml-cpp-dev libyaml-cpp0.7 libcli11-dev googletest; do
    dpkg -L "$package" >/dev/null || { echo "gpu.sh: install $package first" >&2; exit 1; }
    dpkg -L "$package" | while read -r file; do
      if [ -f "$file" ] || [ -L "$file" ]; then
        mkdir -p "$deps/..$(dirname "$file")"
        cp -a "$file" "$deps/..$file"
      fi
    done
  done
  du -sh "$deps"
  exit 0
fi
mode=${1:-}
[ "$mode" = run ] || [ "$mode" = tests ] || { sed -n 2,17p "$0"; exit 2; }

out=${2:-${OUT:-$PWD/gpu-results}}
mkdir -p "$out"
build=$PWD/build-gpu
python=${PYTHON:-python3}
export LD_LIBRARY_PATH="$deps/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PYTHONUNBUFFERED=1

{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  echo "cores: $(nproc)"
  "$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda,
"cudnn", torch.backends.cudnn.version(), "cxx11 abi", torch._C._GLIBCXX_USE_CXX11_ABI,
"device", torch.cuda.get_device_name(0))'
} 2>&1 | tee "$out/environment.txt"

torch_dir=$("$python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
abi=$("$python" -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')

build_with_cmake() {
  local googletest=() targets=(cyclegan_bench)
  if [ -d "$deps/src/googletest" ]; then
    googletest=("-DCYCLEGAN_GOOGLETEST_SOURCE=$deps/src/googletest")
    targets+=(cyclegan_gpu_tests)
  fi
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCYCLEGAN_BENCH_ONLY=ON \
    -DCMAKE_PREFIX_PATH="$torch_dir/share/cmake;$deps" "${googletest[@]}" &&
    ninja -C "$build" -k 0 -j "$(nproc)" "${targets[@]}"
}

# The sources CMake would build (its CYCLEGAN_STEP_SOURCES list, read from CMakeLists.txt).
build_with_gxx() {
  local sources=() objects=()
  mapfile -t sources < <(sed -n '/^set(CYCLEGAN_STEP_SOURCES/,/^)/p' CMakeLists.txt |
    grep -o 'src/[a-z_/]*\.cpp')
  sources+=(src/console_log_stderr.cpp src/distributed_unavailable.cpp
    src/kernels/dispatch_plain.cpp bench/bench.cpp)
  mkdir -p "$build/objects"
  local flags=(-O3 -DNDEBUG -std=c++17 -fopenmp -Wall -Wextra "-D_GLIBCXX_USE_CXX11_ABI=$abi"
    -DCYCLEGAN_BENCH_ONLY '-DCYCLEGAN_VERSION="gpu"' -Iinclude -Isrc -isystem "$torch_dir/include"
    -isystem "$torch_dir/include/torch/csrc/api/include" -isystem "$deps/include")
  # CUDA graphs (src/cuda_graph.cpp) need the CUDA runtime's headers: the toolkit's, or the
  # nvidia-cuda-runtime wheel's beside PyTorch.
  local runtime_header
  runtime_header=$(find /usr/local/cuda/include "$(dirname "$torch_dir")/nvidia" \
    -name cuda_runtime_api.h 2>/dev/null | head -n 1)
  if [ -e "$torch_dir/lib/libtorch_cuda.so" ] && [ -n "$runtime_header" ]; then
    flags+=(-DCYCLEGAN_WITH_CUDA -isystem "$(dirname "$runtime_header")")
  fi
  # shellcheck disable=SC2016  # $@ and $(basename) belong to the inner shell
  printf '%s\n' "${sources[@]}" | xargs -P "$(nproc)" -I{} sh -c \
    'g++ "$@" -c {} -o '"$build"'/objects/$(basename {} .cpp).o || exit 255' _ "${flags[@]}" ||
    return 1
  for source in "${sources[@]}"; do objects+=("$build/objects/$(basename "$source" .cpp).o"); done
  # libtorch_cuda registers the CUDA backend when loaded: keep it although no symbol is used.
  local cuda=()
  if [ -e "$torch_dir/lib/libtorch_cuda.so" ]; then
    cuda=("-Wl,--no-as-needed" -ltorch_cuda -lc10_cuda "-Wl,--as-needed")
  fi
  g++ "${objects[@]}" -o "$build/cyclegan_bench" -fopenmp -L"$torch_dir/lib" \
    -Wl,-rpath,"$torch_dir/lib" "${cuda[@]}" -ltorch -ltorch_cpu -lc10 \
    -L"$deps/lib/x86_64-linux-gnu" -lyaml-cpp -lpthread
}

start=$(date +%s)
if build_with_cmake >"$out/build.log" 2>&1; then
  echo "built with CMake in $(($(date +%s) - start)) s"
else
  echo "CMake build failed (tail below, whole log in build.log); trying g++ directly"
  tail -n 30 "$out/build.log"
  start=$(date +%s)
  if build_with_gxx >"$out/build_gxx.log" 2>&1; then
    echo "built with g++ in $(($(date +%s) - start)) s"
  else
    grep -E "error|Error" "$out/build_gxx.log" | head -n 40
  fi
fi
if [ -x "$build/cyclegan_gpu_tests" ]; then
  echo "== cyclegan_gpu_tests: tests/test_cuda_graph.cpp on this GPU"
  timeout 300 "$build/cyclegan_gpu_tests" >"$out/gpu_tests.txt" 2>&1
  echo "exit status $?" >>"$out/gpu_tests.txt"
  grep -E "^\[ *(OK|FAILED|SKIPPED|PASSED) |Failure|exit status" "$out/gpu_tests.txt"
else
  echo "no cyclegan_gpu_tests (GoogleTest's sources not in $deps/src, or no CMake build)"
fi
[ "$mode" = tests ] && exit 0
bench=$build/cyclegan_bench
if [ ! -x "$bench" ]; then
  echo "no cyclegan_bench: PyTorch's side alone, r9_256"
  timeout 300 "$python" bench/reference_step.py --arch resnet_9blocks --ngf 64 --ndf 64 \
    --size 256 --device cuda --steps 20 --warmup 5 --translate-images 20 | tee "$out/pytorch_r9_256.json"
  exit 1
fi

model=(--arch resnet_9blocks --ngf 64 --ndf 64 --size 256 --device cuda)
# The U-Net has no reflection padding, whose backward adds atomically: with cuDNN's deterministic
# algorithms its runs agree bit for bit, so replays must match kernel-by-kernel steps exactly. Two
# kernel-by-kernel ResNet runs show what the atomic additions alone do over the same steps.
check() {
  timeout 120 "$bench" check --ngf 64 --ndf 64 --size 128 --device cuda --pool-size 2 --steps 6 \
    --deterministic-cuda "$@" >/dev/null
}
echo "== CUDA graphs against kernel-by-kernel steps: 6 steps at 128 (history pool of 2, so the"
echo "   last ones draw from it), deterministic cuDNN, no TF32"
check --arch unet_128 --cuda-graphs 0 --out "$out/check_unet_0"
check --arch unet_128 --cuda-graphs 1 --out "$out/check_unet_1"
check --arch resnet_9blocks --cuda-graphs 0 --out "$out/check_resnet_0"
check --arch resnet_9blocks --cuda-graphs 0 --out "$out/check_resnet_0b"
"$python" - "$out" <<'PYTHON' | tee "$out/graph_check.txt"
import json, sys
def compare(first, second, title):
    first, second = (json.load(open(f"{sys.argv[1]}/{name}/losses_cpp.json")) for name in (first, second))
    print("==", title)
    worst = 0.0
    for a, b in zip(first, second):
        terms = [k for k in a if k != "step"]
        difference = max(abs(a[k] - b[k]) / max(abs(a[k]), 1e-12) for k in terms)
        worst = max(worst, difference)
        print("step %d g_total %.6f/%.6f d_a %.6f/%.6f d_b %.6f/%.6f  max rel diff %.2e" % (
            a["step"], a["g_total"], b["g_total"], a["d_a"], b["d_a"], a["d_b"], b["d_b"], difference))
    print("largest relative difference: %.2e" % worst)
compare("check_unet_0", "check_unet_1", "unet_128: kernel by kernel vs CUDA graphs (should agree exactly)")
compare("check_resnet_0", "check_resnet_0b",
        "resnet_9blocks: kernel by kernel twice (reflection padding's atomic additions)")
PYTHON
rm -rf "$out"/check_unet_[01] "$out"/check_resnet_0 "$out"/check_resnet_0b

timeout "${SUITE_TIMEOUT:-420}" "$python" bench/run.py --bench "$bench" --device cuda \
  --reference-python "$python" --configs "${CONFIGS:-r9_256,r9_128,unet128,book_unet}" \
  --steps "${STEPS:-20}" --warmup "${WARMUP:-5}" --repeat "${REPEAT:-2}" --translate-images 20 \
  --json-out "$out/suite.jsonl" 2>&1 | tee "$out/suite.txt"

configs=${CONFIGS:-r9_256,r9_128,unet128,book_unet}
for config in ${configs//,/ }; do
  case $config in
    r9_256) args=(--arch resnet_9blocks --ngf 64 --ndf 64 --size 256 --lambda-id 5) ;;
    r9_128) args=(--arch resnet_9blocks --ngf 64 --ndf 64 --size 128 --lambda-id 5) ;;
    unet128) args=(--arch unet_128 --ngf 64 --ndf 64 --size 128 --lambda-id 5) ;;
    *) continue ;;
  esac
  echo "== $config without CUDA graphs (kernel by kernel), then with, alternating"
  for run in 1 2; do
    for graphs in 0 1; do
      timeout 120 "$bench" train "${args[@]}" --device cuda --steps "${STEPS:-20}" \
        --warmup "${WARMUP:-5}" --cuda-graphs "$graphs" >"$out/${config}_graphs${graphs}_$run.json" &&
        "$python" -c 'import json, sys; r = json.load(open(sys.argv[1]))
print("graphs %s: step median %.4f s (min %.4f, max %.4f), replayed %s" % (sys.argv[2],
      r["step_median_s"], r["step_min_s"], r["step_max_s"], r["cuda_graphs"]))' \
          "$out/${config}_graphs${graphs}_$run.json" "$graphs"
    done
  done | tee "$out/${config}_graphs.txt"
done
echo "== r9_256: one profiled kernel-by-kernel step of ours, self time per operator"
timeout 120 "$bench" train "${model[@]}" --warmup 5 --steps 3 --profile "$out/r9_256_trace.json" \
  >/dev/null && "$python" bench/profile_summary.py "$out/r9_256_trace.json" --top 25 |
  tee "$out/r9_256_profile.txt"
gzip -f "$out/r9_256_trace.json"
