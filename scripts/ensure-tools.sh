#!/usr/bin/env bash
# Installs the system tools a script needs when they are missing (Debian/Ubuntu, via apt-get).
# Usage: scripts/ensure-tools.sh <command>=<package> ...   e.g. python3=python3 haproxy=haproxy
# A requirement that starts with "/" is a file that must exist (a library with no command).
set -euo pipefail
missing=()
for pair in "$@"; do
  cmd=${pair%%=*}
  pkg=${pair#*=}
  if [[ $cmd == /* ]]; then
    [ -e "$cmd" ] || missing+=("$pkg")
  else
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "epoxy: installing missing system packages: ${missing[*]}" >&2
sudo_cmd=()
[ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq >&2
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
