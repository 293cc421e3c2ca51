#!/usr/bin/env bash
# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer: builds our code with clang in
# build-sanitize/ (LibTorch and OpenCV stay uninstrumented) and runs the unit tests and the report
# test there. Any sanitizer report fails the run. Needs the packages of scripts/setup.sh.
#   scripts/sanitize.sh                            # build, then every test but the two below
#   scripts/sanitize.sh --gtest_filter='Config*'   # extra arguments go to cyclegan_tests
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=SCRIPTDIR/lib/sanitize_common.sh
source scripts/lib/sanitize_common.sh

# Left out here (all run in the normal build):
# - Learning.*: 100 s in the normal build, several times that under ASan;
# - KillHarness.*: 20 training processes started, run to a checkpoint and killed; each one's
#   LibTorch start-up under ASan would make it take many minutes;
# - the longest runs of code that shorter tests here run too (25-65 s each under ASan): the fp32
#   resume (the bf16 one saves and loads the same state), checkpoint retention, the per-world-size
#   resume (AKilledWorker...AndTheRunResumes resumes two ranks' states), and two of the three tiling
#   comparisons (TiledOutputStaysCloseToUntiled tiles the same way).
FILTER='-Learning.*:KillHarness.*'
FILTER+=':Resume.HalfThenResumeIsBitIdenticalToStraight:Resume.RetentionKeepsTheNewestAndEveryKthEpoch'
FILTER+=':DataParallel.HalfThenResumeIsBitIdenticalToStraightPerWorldSize'
FILTER+=':Translate.TilesNormalisedOnTheirOwnWouldShowSeams'
FILTER+=':Translate.OverviewStatisticsShiftColoursEverywhereButLeaveNoSeams'
# The pixel discriminator's resume (the PatchGAN's resume and the pixel tests cover its code) and
# wgangp's data-parallel check (the wgangp resume runs the penalty, the other data-parallel
# tests the averaging).
FILTER+=':Resume.PixelDiscriminatorHalfThenResumeIsBitIdenticalToStraight'
FILTER+=':DataParallel.WgangpTwoRanksOfBatchOneComputeTheLossesOfOneRankOfBatchTwo'
# The norm variants' data-parallel and resume runs: the batch-norm code they run is covered by
# Networks.BatchNormOverTwoRanks... and Resume.BatchNormRunningStatistics..., the training loop
# by the other resume and data-parallel tests.
FILTER+=':DataParallel.BatchNormAndNormFreeTwoRanksComputeTheLossesOfOneRankOfBatchTwo'
FILTER+=':Resume.BatchNormAndNormFreeHalfThenResumeIsBitIdenticalToStraight'
# The end-to-end runs of the preprocess and norm options (each starts the executable four times);
# Data.*, Resume.BatchNormRunningStatistics... and the parity tests run their code here.
FILTER+=':Resume.ScaleWidthHalfThenResumeIsBitIdenticalToStraight'
FILTER+=':EndToEnd.ScaleWidthTrainsOnNonSquareImagesTranslatesAndTests'
FILTER+=':EndToEnd.BatchNormTrainsAndTranslatesWithItsRunningStatistics'
# The fast recipe's resume and end-to-end runs: Networks.InputSkip... runs the skip here, the
# other resume and end-to-end tests the loop and the files.
FILTER+=':Resume.FastRecipeHalfThenResumeIsBitIdenticalToStraight'
FILTER+=':EndToEnd.FastRecipeStartsFromTheUnchangedImageAndExportRefusesIt'

start=$SECONDS
sanitize_build cyclegan cyclegan_tests
built=$SECONDS

# The unit tests in two shards, one process each: under ctest every test is its own process and
# LibTorch's start-up under ASan (about 2 s) would take most of the time.
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
pids=()
for shard in 0 1; do
  GTEST_TOTAL_SHARDS=2 GTEST_SHARD_INDEX=$shard timeout 1800 \
    "$SANITIZE_BUILD_DIR/cyclegan_tests" --gtest_filter="$FILTER" "$@" >"$logs/shard$shard.log" 2>&1 &
  pids+=($!)
done
failed=0
for shard in 0 1; do
  if ! wait "${pids[$shard]}"; then
    cat "$logs/shard$shard.log" >&2
    echo "sanitize: unit test shard $shard failed (a sanitizer report or a test failure above)" >&2
    failed=1
  fi
done
((failed == 0)) || exit 1
grep -h '^\[  PASSED  \]' "$logs"/shard*.log >&2

# The report test trains with the executable and renders the page (skipped without Chromium).
ctest --test-dir "$SANITIZE_BUILD_DIR" --output-on-failure --timeout 900 -R '^report_browser$'
echo "sanitize: no sanitizer report; build $((built - start)) s, tests $((SECONDS - built)) s" >&2
