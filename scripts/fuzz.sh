#!/usr/bin/env bash
# Builds the libFuzzer harnesses (CMakeLists.txt, clang, ASan + UBSan) into build-fuzz/ and runs
# each for N seconds (default 60) over its seed corpus committed in native/<layer>/fuzz/corpus/:
#   fuzz_parser        native/http        request/response heads, chunked bodies
#   fuzz_client_hello  native/tls         the ClientHello reader (SNI, ALPN)
#   fuzz_proxy_header  native/proxyproto  PROXY protocol v1/v2 parsing and building
# Units the fuzzer discovers go to a temporary directory, never into the repo (the committed
# corpora stay a few dozen small seeds); a crashing input is kept in .fuzz-out/ (ignored by git)
# to reproduce with `build-fuzz/<harness> .fuzz-out/crash-...`.
#
# Exit status: 0 when every run ends clean; non-zero on a crash, a failed check, a sanitizer
# report, a leak, or a build failure.
#
# Usage: scripts/fuzz.sh [seconds-per-harness] [harness...]    npm run fuzz -- 600 fuzz_parser
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true

# name:layer:max_len
all=(fuzz_parser:http:4096 fuzz_client_hello:tls:20000 fuzz_proxy_header:proxyproto:1024)
wanted=("$@")

scripts/ensure-tools.sh clang=clang cmake=cmake
# libFuzzer's runtime ships apart from clang on Debian (libclang-rt-<major>-dev).
major=$(clang -dumpversion | cut -d. -f1)
scripts/ensure-tools.sh "$(clang -print-runtime-dir)/libclang_rt.fuzzer-x86_64.a=libclang-rt-$major-dev"

cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DEPOXY_FUZZ=ON -DEPOXY_TESTS=OFF >/dev/null

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p .fuzz-out
rc=0
for entry in "${all[@]}"; do
  IFS=: read -r name layer max_len <<<"$entry"
  if [ "${#wanted[@]}" -gt 0 ] && [[ ! " ${wanted[*]} " =~ " $name " ]]; then continue; fi
  corpus=native/$layer/fuzz/corpus
  cmake --build build-fuzz --target "$name" -j "$(nproc)" >/dev/null
  mkdir -p "$scratch/$name"
  echo "fuzz: $name for ${seconds}s over $corpus ($(ls "$corpus" | wc -l) seeds)"
  # The first directory receives new units; the committed seeds are only read.
  one=0
  "./build-fuzz/$name" -max_total_time="$seconds" -max_len="$max_len" -print_final_stats=1 -timeout=10 \
    -artifact_prefix=.fuzz-out/ "$scratch/$name" "$corpus" 2>"$scratch/$name.log" || one=$?
  grep -E '^#[0-9]+.*(INITED|DONE)|^stat::|ERROR|SUMMARY|check failed|Test unit written' "$scratch/$name.log" || true
  if [ "$one" -ne 0 ]; then
    tail -n 60 "$scratch/$name.log" >&2
    echo "fuzz: $name FAILED (exit $one); reproduce with build-fuzz/$name <artifact in .fuzz-out/>" >&2
    rc=$one
  else
    echo "fuzz: $name clean"
  fi
done
exit "$rc"
