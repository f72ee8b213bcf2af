#!/usr/bin/env bash
# The developer build of the addon: cmake-js drives CMakeLists.txt (the same engine sources as
# binding.gyp, from native/sources.gypi). Output in build-dev/ (or build-<sanitizer>/):
#   Release/epoxy.node           the addon (load it with EPOXY_ADDON=build-dev/Release/epoxy.node)
#   Release/epoxy_testing.node   test-only: native/http's parser for test/http-differential.test.ts
#   compile_commands.json        for editors and clang-tidy
#
# Usage: scripts/build-dev.sh [--testing] [--sanitize=address|thread] [--clang] [--debug]
#   --testing   build only epoxy_testing.node (what `npm test` needs; seconds)
#   --sanitize  ASan+UBSan or TSan build into build-asan/ or build-tsan/ (scripts/test-asan.sh,
#               scripts/test-tsan.sh)
#   --clang     clang++ instead of the default compiler (g++ here)
set -euo pipefail
cd "$(dirname "$0")/.."

target=()
sanitize=""
compiler=()
config=Release
for arg in "$@"; do
  case $arg in
    --testing) target=(--target epoxy_testing) ;;
    --sanitize=*) sanitize=${arg#--sanitize=} ;;
    --clang) compiler=(--cc clang --cxx clang++) ;;
    --debug) config=Debug ;;
    *) echo "build-dev: unknown option $arg" >&2; exit 2 ;;
  esac
done
case $sanitize in
  "") out=build-dev ;;
  address) out=build-asan ;;
  thread) out=build-tsan ;;
  *) echo "build-dev: --sanitize must be address or thread" >&2; exit 2 ;;
esac

scripts/ensure-tools.sh cmake=cmake >&2
jobs=$(nproc)
# cmake-js prints every step; a failure prints the compiler's errors, which is what matters.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! node node_modules/cmake-js/bin/cmake-js build --out "$out" --config "$config" --parallel "$jobs" \
    --CDEPOXY_SANITIZE="$sanitize" "${compiler[@]}" "${target[@]}" >"$log" 2>&1; then
  grep -vE '^\[?(info|http)' "$log" | tail -n 60 >&2
  echo "build-dev: cmake-js build failed (full log above)" >&2
  exit 1
fi
ln -sf "$out/compile_commands.json" compile_commands.json 2>/dev/null || true
echo "build-dev: $out/$config ($([ ${#target[@]} -gt 0 ] && echo epoxy_testing.node || echo 'epoxy.node, epoxy_testing.node'))" >&2
