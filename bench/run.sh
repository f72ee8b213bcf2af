#!/usr/bin/env bash
# Placeholder until the haproxy comparison lands (see bench/README.md): refuse to fake numbers.
echo "epoxy bench: the haproxy/wrk/ab harness is not built yet; see bench/README.md." >&2
echo "For the foundation measurements run: node bench/foundation.mjs" >&2
exit 2
