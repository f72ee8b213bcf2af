#!/usr/bin/env bash
# ThreadSanitizer over everything that has threads, without Node in the process (V8 and libuv
# are not TSan-built, so their frames would only be noise): the native unit tests, built with
# -fsanitize=thread (scripts/test-native.sh --sanitize=thread). The engine tests there drive a
# real engine thread from a control thread — commands, event batches, stop — over real sockets.
# Any report fails the run (halt_on_error).
#
# Usage: scripts/test-tsan.sh [--junit=FILE] [-- ctest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash scripts/test-native.sh --sanitize=thread "$@"
