#!/usr/bin/env bash
# smartproduct developer driver. The README's two commands:
#   ./dev.sh run    install what is missing, build, create a development instance, run it (foreground);
#                   `./dev.sh run --demo [demo options]` adds a demo account and simulated devices
#   ./dev.sh test   install what is missing, build, run every test (unit, ASan/UBSan, integration, browser)
# Other verbs: bootstrap, build, package (the .deb), bench ingest|detect|plugin|jitr|..., fuzz [SECONDS [TARGET...]].
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

bootstrap() { # [extra package lists...] (always .ci/apt-packages.txt)
  local wanted missing=()
  wanted=$(cat .ci/apt-packages.txt "$@" | grep -vE '^\s*(#|$)')
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

run() { # [--demo [smartproductctl demo options...]]
  local demo=0
  if [ "${1:-}" = "--demo" ]; then demo=1; shift; fi
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
  # How a newcomer gets in: an administrator from the command line, or a console sign-up whose
  # verification code the daemon writes to this terminal (no [identity] smtp_url in development).
  log "first administrator: echo 'a long passphrase' | $BUILD/bin/smartproductctl user add --dir $INSTANCE --email admin@example.com --admin --password-stdin"
  if [ "$demo" -eq 0 ]; then
    log "or sign up in the console: the code appears below as 'verification code for <email>: <code>'"
    log "a live demo fleet: ./dev.sh run --demo (or, with this running, $BUILD/bin/smartproductctl demo --dir $INSTANCE)"
    exec "$BUILD/bin/smartproductd" --config "$INSTANCE/smartproduct.toml"
  fi
  # --demo: the daemon in the background (its log in a file, so the simulator's status lines stay
  # readable), `smartproductctl demo` in the foreground; Ctrl-C stops the devices, then the daemon.
  local daemon_log="$INSTANCE/log/daemon.log" daemon rc=0
  mkdir -p "$INSTANCE/log"
  log "or sign up in the console: the code appears in $daemon_log as 'verification code for <email>: <code>'"
  "$BUILD/bin/smartproductd" --config "$INSTANCE/smartproduct.toml" >>"$daemon_log" 2>&1 &
  daemon=$!
  # Background jobs of a script ignore SIGINT: the daemon outlives Ctrl-C and is stopped here.
  # (expanded now: `daemon` is local to this function, the trap runs at exit).
  # shellcheck disable=SC2064
  trap "kill -TERM $daemon 2>/dev/null; wait $daemon 2>/dev/null || true" EXIT
  "$BUILD/bin/smartproductctl" demo --dir "$INSTANCE" "$@" || rc=$?
  log "stopping smartproductd (log: $daemon_log)"
  return "$rc"
}

# The Debian package (CPack DEB, config/packaging.cmake) in $BUILD/package/, checked by lintian.
package() {
  bootstrap .ci/apt-packages-package.txt
  configure "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo
  # help2man may have been installed since the build directory was configured.
  cmake -DCMAKE_INSTALL_PREFIX=/usr "$BUILD" >/dev/null
  # Only what the package holds (not the tests).
  ninja -C "$BUILD" -j "$JOBS" smartproductd smartproductctl smartproduct-sim mosquitto_smartproduct sp_package_docs
  build_web
  [ -f web/dist/index.html ] || { echo "web/dist is missing: the console was not built" >&2; exit 1; }
  log "building the Debian package"
  (cd "$BUILD" && cpack -G DEB -B "$BUILD/package" >/dev/null)
  local deb
  deb=$(ls -t "$BUILD"/package/smartproduct_*.deb | head -n1)
  log "lintian $deb"
  lintian --info "$deb" || true
  log "package: $deb ($(du -k "$deb" | cut -f1) kB)"
}

# The container files, as far as this machine allows: the compose file against the compose
# schema and the entry point's syntax always; the image build only where a Docker engine answers.
docker_check() {
  bootstrap .ci/apt-packages-docker.txt
  sh -n docker/entrypoint.sh
  (cd docker && docker-compose -f compose.yaml config -q)
  log "docker/compose.yaml and docker/entrypoint.sh are valid"
  if docker info >/dev/null 2>&1; then
    docker build -f docker/Dockerfile -t smartproduct:check .
  else
    log "no Docker engine here: docker/Dockerfile was not built"
  fi
}

# Runs one suite, keeps its output, and adds its passed/failed test counts to the totals.
TESTS_PASSED=0 TESTS_FAILED=0 SUITES_FAILED=() FAILED_TESTS=()
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
  # CI shows only the tail of the output: keep each failed test's name (and pytest's one-line
  # reason) for the summary at the end.
  local line
  while IFS= read -r line; do FAILED_TESTS+=("$name: $line"); done < <(
    case $parser in
      ctest) sed -En 's/^[[:space:]]*[0-9]+ - (.*) \((Failed|Timeout|SEGFAULT|Subprocess aborted|Exception|Not Run).*/\1 (\2)/p' "$out" ;;
      pytest) grep -E '^(FAILED|ERROR) ' "$out" | cut -c1-400 ;;
      node) grep -E '^not ok ' "$out" ;;
    esac | head -n 20 || true)
}

# The sanitizer builds (ASan+UBSan unit tests with gcc, libFuzzer targets with clang) need no test
# results, so ./dev.sh test starts them right after the release build, at the lowest CPU priority,
# while the suites spend most of their time waiting on processes and sockets. At nice 19 they get
# only the CPU the tests leave idle; on 2 cores that takes most of those builds off a cold run.
asan_build() {
  configure "$BUILD_ASAN" -DCMAKE_BUILD_TYPE=Debug -DSP_SANITIZE=ON -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DCMAKE_C_FLAGS_DEBUG="-O1 -g1"
  # Only the unit-test binaries: the daemon, CLI and simulator are exercised by the suites above.
  nice -n 19 ninja -C "$BUILD_ASAN" -j "$JOBS" sp_unit_tests
}

test_all() {
  bootstrap
  build
  local t0=$SECONDS
  log "ASan+UBSan and fuzz builds started in the background (logs: $BUILD/{asan,fuzz}-build.log)"
  asan_build >"$BUILD/asan-build.log" 2>&1 &
  local asan_pid=$!
  SP_FUZZ_BUILD_ONLY=1 nice -n 19 tests/fuzz/run.sh >"$BUILD/fuzz-build.log" 2>&1 &
  local fuzz_build_pid=$!
  run_suite unit ctest ctest --test-dir "$BUILD" -L unit --output-on-failure -j "$JOBS" --timeout 300

  run_suite integration pytest env SP_BIN_DIR="$BUILD/bin" SP_PLUGIN_PATH="$BUILD/bin/mosquitto_smartproduct.so" \
    /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration

  # The Debian package: built, installed on this machine, run, removed and purged (root only; the
  # test skips with a message otherwise). About 1.5 min here: 30 s to package, 55 s to test.
  if package >"$BUILD/package.log" 2>&1; then
    run_suite package pytest env SP_BIN_DIR="$BUILD/bin" SP_DEB="$(ls -t "$BUILD"/package/smartproduct_*.deb | head -n1)" \
      /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/package
  else
    log "package build failed: see $BUILD/package.log"
    SUITES_FAILED+=("package-build"); TESTS_FAILED=$((TESTS_FAILED + 1))
  fi

  run_suite web-unit node env -C web node --test test/

  (cd tests/e2e && { [ -d node_modules ] && [ node_modules -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error; })
  run_suite browser node env SP_BIN_DIR="$BUILD/bin" SP_E2E_AUTH=1 node tests/e2e/run.mjs

  log "waiting for the ASan+UBSan build in $BUILD_ASAN"
  if wait "$asan_pid"; then
    run_suite unit-asan ctest env ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      ctest --test-dir "$BUILD_ASAN" -L unit --output-on-failure -j "$JOBS" --timeout 600
  else
    tail -n 40 "$BUILD/asan-build.log"
    SUITES_FAILED+=("asan-build"); TESTS_FAILED=$((TESTS_FAILED + 1))
  fi

  # Every libFuzzer target for a bounded time (longer: ./dev.sh fuzz SECONDS). run.sh builds what
  # the background build did not (and reports a build failure as failed targets).
  wait "$fuzz_build_pid" || true
  run_suite fuzz node tests/fuzz/run.sh "${SP_FUZZ_SECONDS:-20}"

  log "all suites done in $((SECONDS - t0)) s; failed suites: ${SUITES_FAILED[*]:-none}"
  local t
  for t in "${FAILED_TESTS[@]}"; do echo "failed: $t"; done
  echo "tests: $TESTS_PASSED passed, $TESTS_FAILED failed"
  [ ${#SUITES_FAILED[@]} -eq 0 ]
}

case "${1:-}" in
  bootstrap) shift; bootstrap "$@" ;;
  build) bootstrap; build ;;
  run) shift; run "$@" ;;
  package) package ;;
  docker-check) docker_check ;;
  test) test_all ;;
  fuzz) shift; bootstrap; exec tests/fuzz/run.sh "${1:-300}" "${@:2}" ;;
  bench)
    shift; bootstrap; build
    name=${1:-ingest}
    if [ -f "tests/bench/$name/run.py" ]; then
      SP_BIN_DIR="$BUILD/bin" exec /usr/bin/python3 "tests/bench/$name/run.py" "${@:2}"
    else
      exec "$BUILD/bin/sp_${name}_bench" "${@:2}"
    fi ;;
  *) echo "usage: $0 run [--demo [OPTIONS]] | test | build | bootstrap | package | docker-check | bench NAME | fuzz [SECONDS [TARGET...]]" >&2; exit 2 ;;
esac
