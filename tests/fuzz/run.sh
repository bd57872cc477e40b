#!/usr/bin/env bash
# Builds every libFuzzer target (clang, ASan+UBSan) and runs each for a bounded time from its seed
# corpus in tests/fuzz/corpus/<name without _fuzz>. The corpus in the repository is only read: new
# inputs go to a scratch copy, crashes to $OUT/<target>/. Prints "# pass N" / "# fail N" like the
# node test runner so ./dev.sh test can count targets.
#   tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]      (SP_FUZZ_BUILD_ONLY=1: only build)
set -uo pipefail
cd "$(dirname "$(readlink -f "$0")")/../.."
ROOT=$PWD
SECONDS_PER_TARGET=${1:-60}; shift || true
BUILD=${SP_BUILD_FUZZ_DIR:-$ROOT/build-fuzz}
OUT=${SP_FUZZ_OUT:-$BUILD/findings}
JOBS=${SP_JOBS:-$(nproc)}

if [ ! -f "$BUILD/build.ninja" ]; then
  CC=clang-14 CXX=clang++-14 cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSP_FUZZ=ON -DSP_BUILD_TESTS=OFF -DSP_ONLY_DIRS=none >/dev/null || { echo "# pass 0"; echo "# fail 1"; exit 1; }
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  # add_executable(<name>_fuzz or sp_add_[core_]fuzz(<name>_fuzz at the start of a line.
  mapfile -t targets < <(sed -n -e 's/^add_executable(\([a-z_]*_fuzz\)$/\1/p' \
    -e 's/^sp_add_\(core_\)\{0,1\}fuzz(\([a-z_]*_fuzz\)[ )]\{0,1\}.*$/\2/p' tests/fuzz/CMakeLists.txt)
fi
ninja -C "$BUILD" -j "$JOBS" "${targets[@]}" >/dev/null || { echo "fuzz build failed"; echo "# pass 0"; echo "# fail ${#targets[@]}"; exit 1; }
# SP_FUZZ_BUILD_ONLY=1: build the targets and stop (./dev.sh test builds them early, in the background).
[ "${SP_FUZZ_BUILD_ONLY:-0}" = 1 ] && exit 0

# One target per core at a time: libFuzzer runs on one thread, so on N cores N targets finish in
# the time of one (CI time grows with the number of targets / cores, not the number of targets).
run_target() { # target -> prints one "ok"/"not ok" line (+ the log's tail); exit status = result
  local t=$1 corpus=tests/fuzz/corpus/${1%_fuzz} scratch log
  scratch=$(mktemp -d)
  [ -d "$corpus" ] && cp -r "$corpus"/. "$scratch"/
  mkdir -p "$OUT/$t"
  log=$OUT/$t/last-run.log
  if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      "$BUILD/bin/$t" -max_total_time="$SECONDS_PER_TARGET" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$OUT/$t/" "$scratch" >"$log" 2>&1; then
    local stats runs
    stats=$(grep -Eo 'stat::number_of_executed_units: [0-9]+' "$log" | grep -Eo '[0-9]+$' || true)
    runs=$(grep -Eo '^Done [0-9]+ runs' "$log" | grep -Eo '[0-9]+' || echo "${stats:-?}")
    echo "ok - $t: $runs runs in ${SECONDS_PER_TARGET}s, corpus $(ls "$scratch" | wc -l) inputs (seed $(ls "$corpus" 2>/dev/null | wc -l))"
    rm -rf "$scratch"
    return 0
  fi
  echo "not ok - $t: finding, see $log"; tail -n 30 "$log"
  rm -rf "$scratch"
  return 1
}

results=$(mktemp -d)
running=0
for t in "${targets[@]}"; do
  if [ "$running" -ge "$JOBS" ]; then wait -n || true; running=$((running - 1)); fi
  ( run_target "$t" >"$results/$t.out" 2>&1; echo $? >"$results/$t.rc" ) &
  running=$((running + 1))
done
wait
pass=0 fail=0
for t in "${targets[@]}"; do
  cat "$results/$t.out"
  if [ "$(cat "$results/$t.rc" 2>/dev/null)" = 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
done
rm -rf "$results"
echo "# pass $pass"
echo "# fail $fail"
[ "$fail" -eq 0 ]
