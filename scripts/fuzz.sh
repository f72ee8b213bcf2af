#!/usr/bin/env bash
# Builds the libFuzzer harness for native/http (CMakeLists.txt, clang, ASan + UBSan) into
# build-fuzz/ and runs it for N seconds (default 60) over the seed corpus committed in
# native/http/fuzz/corpus/. Units the fuzzer discovers go to a temporary directory, never into
# the repo (the committed corpus stays a few dozen small seeds); a crashing input is kept in
# .fuzz-out/ (ignored by git) to reproduce with `build-fuzz/fuzz_parser .fuzz-out/crash-...`.
#
# Exit status: 0 when the run ends clean; non-zero on a crash, a failed check, a sanitizer
# report, a leak, or a build failure.
#
# Usage: scripts/fuzz.sh [seconds]        npm run fuzz -- 600
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}

scripts/ensure-tools.sh clang=clang cmake=cmake
# libFuzzer's runtime ships apart from clang on Debian (libclang-rt-<major>-dev).
major=$(clang -dumpversion | cut -d. -f1)
scripts/ensure-tools.sh "$(clang -print-runtime-dir)/libclang_rt.fuzzer-x86_64.a=libclang-rt-$major-dev"

cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DEPOXY_FUZZ=ON -DEPOXY_TESTS=OFF >/dev/null
cmake --build build-fuzz --target fuzz_parser -j "$(nproc)" >/dev/null

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p .fuzz-out
echo "fuzz: fuzz_parser for ${seconds}s over native/http/fuzz/corpus ($(ls native/http/fuzz/corpus | wc -l) seeds)"
# The first directory receives new units; the committed seeds are only read.
rc=0
./build-fuzz/fuzz_parser -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 -timeout=10 \
  -artifact_prefix=.fuzz-out/ "$scratch" native/http/fuzz/corpus 2>"$scratch.log" || rc=$?
grep -E '^#[0-9]+.*(INITED|DONE)|^stat::|ERROR|SUMMARY|check failed|Test unit written' "$scratch.log" || true
if [ "$rc" -ne 0 ]; then
  tail -n 60 "$scratch.log" >&2
  echo "fuzz: FAILED (exit $rc); reproduce with build-fuzz/fuzz_parser <artifact in .fuzz-out/>" >&2
else
  echo "fuzz: clean"
fi
rm -f "$scratch.log"
exit "$rc"
