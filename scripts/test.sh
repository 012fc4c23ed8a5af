#!/usr/bin/env bash
# scripts/test.sh — set up, build, and run every test: the normal build, the
# same tests under AddressSanitizer+UndefinedBehaviorSanitizer, and a bounded
# run of each fuzz target with libFuzzer. This is what CI runs (.ci/run).
#   FUZZ_SECONDS   seconds per fuzz target (default 30; 0 skips fuzzing)
#   SKIP_ASAN=1    skip the ASan+UBSan build (for a quick local run)
#   SKIP_TSAN=1    skip the ThreadSanitizer build of the threaded tests
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/setup.sh"
start=$SECONDS
jobs=$(nproc)
step() { printf '\n== %s (%ds)\n' "$*" $((SECONDS - start)); }

step "build"
"$top/scripts/build.sh" "$top/build"
step "tests"
(cd "$top/build" && ctest --output-on-failure -j"$jobs" --timeout 300)
# The benchmarks once, tiny (bench/README.md), so the bench command cannot
# rot: it fails only when a benchmark gave no number, never on the numbers.
# Without root it skips itself (exit 77), as the interop tests do.
step "bench smoke"
bench_rc=0
timeout 300 "$top/bench/run.sh" --smoke --build "$top/build" || bench_rc=$?
((bench_rc == 0 || bench_rc == 77)) || { echo "bench smoke failed (exit $bench_rc)"; exit 1; }

if [[ "${SKIP_ASAN:-0}" != 1 ]]; then
  step "build with ASan+UBSan"
  "$top/scripts/build.sh" "$top/build-asan" -DCMAKE_BUILD_TYPE=Debug -DIOPKT_SANITIZE=address,undefined
  step "tests with ASan+UBSan"
  # Everything but the long TCP transfers against Linux (interop.tcp_linux:
  # 100 MB each way over impaired paths, ~10 minutes unsanitized); the
  # sanitized stack still carries TCP in the process tests and over the
  # lossy vwire (interop.tcp_vwire_loss).
  (cd "$top/build-asan" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
     UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     ctest --output-on-failure -j"$jobs" --timeout 600 -E '^interop\.tcp_linux$')
fi

if [[ "${SKIP_TSAN:-0}" != 1 ]]; then
  # The threaded parts: pools shared by packet threads, the manager's
  # threads and sessions, the drivers, and whole instances in process tests.
  step "build with TSan"
  "$top/scripts/build.sh" "$top/build-tsan" -DCMAKE_BUILD_TYPE=Debug -DIOPKT_SANITIZE=thread
  step "threaded tests with TSan"
  for t in kern_tests manager_tests drivers_tests process_tests; do
    [[ -x "$top/build-tsan/tests/$t" ]] || continue
    echo "-- $t"
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 "$top/build-tsan/tests/$t" --gtest_brief=1
  done
fi

fuzz_seconds=${FUZZ_SECONDS:-30}
if [[ "$fuzz_seconds" != 0 ]]; then
  step "fuzz targets (clang, libFuzzer, ${fuzz_seconds}s each)"
  cmake -S "$top" -B "$top/build-fuzz" -DCMAKE_BUILD_TYPE=Debug -DIOPKT_FUZZ=ON \
    -DIOPKT_SANITIZE=address,undefined -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
  cmake --build "$top/build-fuzz" -j"$jobs" --target fuzz_targets
  for target in "$top"/build-fuzz/fuzz/*_fuzz; do
    name=$(basename "$target")
    corpus="$top/tests/fuzz/corpus/$name"
    work=$(mktemp -d)
    echo "-- $name"
    if ! "$target" -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$work/" "$work" "$corpus" >"$work/log" 2>&1; then
      tail -n 60 "$work/log"
      echo "$name failed; the input that broke it is kept in $work"
      exit 1
    fi
    tail -n 3 "$work/log"
    rm -rf "$work"
  done
fi
step "all tests passed"
