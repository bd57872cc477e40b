#!/usr/bin/env bash
# smartproduct developer driver. The README's two commands:
#   ./dev.sh run    install what is missing, build, create a development instance, run it (foreground)
#   ./dev.sh test   install what is missing, build, run every test (unit, ASan/UBSan, integration, browser)
# Other verbs: bootstrap, build, bench ingest|plugin|jitr.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"
ROOT=$PWD
BUILD=${SP_BUILD_DIR:-$ROOT/build}
BUILD_ASAN=${SP_BUILD_ASAN_DIR:-$ROOT/build-asan}
INSTANCE=${SP_INSTANCE_DIR:-$BUILD/dev-instance}
JOBS=${SP_JOBS:-$(nproc)}
# ccache hits across clones (CI builds a fresh clone in another folder).
export CCACHE_BASEDIR=$ROOT CCACHE_NOHASHDIR=1

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

bootstrap() {
  local wanted missing=()
  wanted=$(grep -vE '^\s*(#|$)' .ci/apt-packages.txt)
  for p in $wanted; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  # Node.js: Debian's nodejs+npm, unless a Node.js with npm is already installed (e.g. NodeSource,
  # whose nodejs package conflicts with Debian's npm).
  if ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

configure() { # dir, extra cmake args...
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    cmake -S "$ROOT" -B "$dir" -G Ninja "$@" >/dev/null
  fi
}

build_web() {
  log "building the console (web/)"
  (cd web && { [ -d node_modules ] && [ node_modules -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error; } && npm run --silent build)
}

build() {
  log "building (Release with debug info) in $BUILD"
  configure "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo
  ninja -C "$BUILD" -j "$JOBS"
  build_web
}

run() {
  bootstrap
  build
  if [ ! -f "$INSTANCE/smartproduct.toml" ]; then
    log "creating a development instance in $INSTANCE"
    "$BUILD/bin/smartproductctl" init --dir "$INSTANCE" --hostname "$(hostname)"
  else
    # Keeps keys and configs; refreshes the broker plugin if it was rebuilt.
    "$BUILD/bin/smartproductctl" init --dir "$INSTANCE" --hostname "$(hostname)" >/dev/null
  fi
  # A device CA the platform manages (its key in pki/cas/), unless the instance has one already.
  if ! ls "$INSTANCE"/pki/cas/*.crt >/dev/null 2>&1; then
    log "creating the managed device CA 'dev'"
    "$BUILD/bin/smartproductctl" ca create --name dev --dir "$INSTANCE" >/dev/null
  fi
  log "device certificate: $BUILD/bin/smartproductctl device-cert issue --dir $INSTANCE --ca dev --serial SN0001 --out /tmp/devices"
  local port
  port=$(sed -n '/^\[http\]/,/^\[/{s/^port *= *\([0-9]*\).*/\1/p}' "$INSTANCE/smartproduct.toml" | head -n1)
  log "console: https://localhost:${port:-8443}/   (certificate authority: $INSTANCE/pki/root-ca.crt)"
  exec "$BUILD/bin/smartproductd" --config "$INSTANCE/smartproduct.toml"
}

# Runs one suite, keeps its output, and adds its passed/failed test counts to the totals.
TESTS_PASSED=0 TESTS_FAILED=0 SUITES_FAILED=()
run_suite() { # name, parser (ctest|pytest|node), command...
  local name=$1 parser=$2; shift 2
  # Parsing must not stop the script (set -e with pipefail) when a pattern is absent.
  local out="$BUILD/test-$name.log" rc=0 p=0 f=0
  log "$name"
  "$@" 2>&1 | tee "$out" || rc=$?
  case $parser in
    ctest)
      p=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2 \1/p' "$out" | awk '{print $1-$2}' | tail -n1 || true)
      f=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of.*/\1/p' "$out" | tail -n1 || true) ;;
    pytest)
      local summary
      summary=$(grep -E '[0-9]+ (passed|failed|errors?).* in [0-9.]+s' "$out" | tail -n1 || true)
      p=$(echo "$summary" | grep -Eo '[0-9]+ passed' | grep -Eo '[0-9]+' || true)
      f=$(echo "$summary" | grep -Eo '[0-9]+ (failed|errors?)' | awk '{s+=$1} END {print s+0}' || true) ;;
    node)
      p=$(sed -n 's/^# pass \([0-9]*\)/\1/p' "$out" | tail -n1 || true)
      f=$(sed -n 's/^# fail \([0-9]*\)/\1/p' "$out" | tail -n1 || true) ;;
  esac
  p=${p:-0} f=${f:-0}
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi  # a suite that died without counting
  TESTS_PASSED=$((TESTS_PASSED + p)) TESTS_FAILED=$((TESTS_FAILED + f))
  [ "$rc" -eq 0 ] || SUITES_FAILED+=("$name")
}

test_all() {
  bootstrap
  build
  local t0=$SECONDS
  run_suite unit ctest ctest --test-dir "$BUILD" -L unit --output-on-failure -j "$JOBS" --timeout 300

  run_suite integration pytest env SP_BIN_DIR="$BUILD/bin" SP_PLUGIN_PATH="$BUILD/bin/mosquitto_smartproduct.so" \
    /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration

  (cd tests/e2e && { [ -d node_modules ] && [ node_modules -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error; })
  run_suite browser node env SP_BIN_DIR="$BUILD/bin" SP_E2E_AUTH=1 node tests/e2e/run.mjs

  log "ASan+UBSan build in $BUILD_ASAN"
  configure "$BUILD_ASAN" -DCMAKE_BUILD_TYPE=Debug -DSP_SANITIZE=ON -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DCMAKE_C_FLAGS_DEBUG="-O1 -g1"
  # Only the unit-test binaries: the daemon, CLI and simulator are exercised by the suites above.
  if ninja -C "$BUILD_ASAN" -j "$JOBS" sp_unit_tests; then
    run_suite unit-asan ctest env ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      ctest --test-dir "$BUILD_ASAN" -L unit --output-on-failure -j "$JOBS" --timeout 600
  else
    SUITES_FAILED+=("asan-build"); TESTS_FAILED=$((TESTS_FAILED + 1))
  fi

  log "all suites done in $((SECONDS - t0)) s; failed suites: ${SUITES_FAILED[*]:-none}"
  echo "tests: $TESTS_PASSED passed, $TESTS_FAILED failed"
  [ ${#SUITES_FAILED[@]} -eq 0 ]
}

case "${1:-}" in
  bootstrap) bootstrap ;;
  build) bootstrap; build ;;
  run) run ;;
  test) test_all ;;
  bench)
    shift; bootstrap; build
    name=${1:-ingest}
    if [ -f "tests/bench/$name/run.py" ]; then
      SP_BIN_DIR="$BUILD/bin" exec /usr/bin/python3 "tests/bench/$name/run.py" "${@:2}"
    else
      exec "$BUILD/bin/sp_${name}_bench" "${@:2}"
    fi ;;
  *) echo "usage: $0 run | test | build | bootstrap | bench NAME" >&2; exit 2 ;;
esac
