#!/usr/bin/env bash
# The native unit tests: one doctest binary per layer (test_core, test_io, test_net, test_lb,
# test_http, test_engine), built by plain CMake from CMakeLists.txt and run by ctest — no Node
# in the process, so sanitizer reports are about epoxy's code alone.
#
# Usage: scripts/test-native.sh [--sanitize=address|thread] [--junit=FILE] [-- ctest args...]
#   (none)               build-native/       -O2 -g
#   --sanitize=address   build-native-asan/  ASan + UBSan; any report fails the test
#   --sanitize=thread    build-native-tsan/  ThreadSanitizer; any report fails the test
#   --junit=FILE         also write ctest's JUnit report (.ci/run counts the cases from it)
#   e.g. npm run test:native -- -- -R '^lb: '
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=""
junit=""
ctest_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --sanitize=*) sanitize=${1#--sanitize=} ;;
    --junit=*) junit=${1#--junit=} ;;
    --) shift; ctest_args=("$@"); break ;;
    *) echo "test-native: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
case $sanitize in
  "") out=build-native ;;
  address) out=build-native-asan ;;
  thread) out=build-native-tsan ;;
  *) echo "test-native: --sanitize must be address or thread" >&2; exit 2 ;;
esac

# doctest: Debian's doctest-dev (one header + CMake config).
scripts/ensure-tools.sh cmake=cmake /usr/include/doctest/doctest.h=doctest-dev >&2

cmake -S . -B "$out" -DEPOXY_SANITIZE="$sanitize" -DEPOXY_TESTS=ON >/dev/null
cmake --build "$out" -j "$(nproc)" -- --no-print-directory >/dev/null

# A sanitizer report ends the process with a distinct exit code, so ctest sees a failure.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=86}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:exitcode=87}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:exitcode=88:second_deadlock_stack=1}

junit_args=()
[ -n "$junit" ] && junit_args=(--output-junit "$(realpath -m "$junit")")
start=$(date +%s%N)
rc=0
ctest --test-dir "$out" -j "$(nproc)" --output-on-failure --timeout 120 "${junit_args[@]}" "${ctest_args[@]}" || rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "test-native: ${sanitize:-plain} build, ctest $((ms / 1000)).$(printf %03d $((ms % 1000)))s, exit $rc"
exit "$rc"
