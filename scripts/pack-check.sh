#!/usr/bin/env bash
# End-to-end check of the npm tarball, as a new user meets it: `npm pack` (in a scratch copy of
# the source, so this tree's build/, dist/ and prebuilds/ are left alone), then install the
# tarball into fresh projects with no C++ compiler on PATH and use it:
#   - the prebuild loads (no build/ appears), `npx epoxy check` passes a good config and fails
#     a bad one with the field path, `npx epoxy run` proxies bytes to an echo backend and exits
#     0 on SIGTERM, and tsc type-checks a user's epoxy.config.ts against the package's types;
#   - "does not fit": the same tarball with a prebuild that needs a newer glibc than this
#     machine's (its GLIBC_ version need patched to 9.99) prints why, then builds from source —
#     with a compiler it succeeds and works; without one it fails saying what to install.
# Needs `npm ci` first (devDependencies: typescript, prebuildify, node-gyp), g++/make/python3 for
# the prebuild, and the npm registry or cache for the tarball's dependencies. Ends with
# `pack-check: ok` or `pack-check: FAILED (<step>)`, exit code 0 or 1. PACK_CHECK_KEEP=1 keeps the
# scratch folder (tarballs, projects, logs) and prints where it is. About 100 s on 2 idle vCPUs,
# half of it the second C++ build (does not fit, with a compiler); PACK_CHECK_SOURCE_BUILD=0
# leaves that one out, for a quicker run while iterating (CI runs everything).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/epoxy-pack-check.XXXXXX")
# Background jobs run under setsid, each its own process group: cleanup ends a whole group
# (npm and the compilers under it), by the group's id.
bg_groups=()
epoxy_pid=""
cleanup() {
  [ -n "$epoxy_pid" ] && kill "$epoxy_pid" 2>/dev/null
  for g in "${bg_groups[@]}"; do kill -- "-$g" 2>/dev/null; done
  wait 2>/dev/null
  # Removing ~5000 files can take seconds on a disk mounted with discard: not waited for.
  if [ -n "${PACK_CHECK_KEEP:-}" ]; then echo "pack-check: kept $work"; else rm -rf "$work" </dev/null >/dev/null 2>&1 & fi
}
trap cleanup EXIT

step=setup
t0=$SECONDS
fail() {
  [ $# -gt 0 ] && echo "  $*"
  echo "pack-check: FAILED ($step)"
  exit 1
}
begin() {
  step=$1
  echo "== $step ($((SECONDS - t0)) s)"
}
# Last lines of a log, indented.
show() { tail -n "${2:-30}" "$1" | sed 's/^/  | /'; }
# The lines our install script printed (npm prefixes nothing with --foreground-scripts).
epoxy_lines() { grep -E '^epoxy: |^  ' "$1" | grep -vE '^  (CXX|SOLINK|COPY|TOUCH)' | sed 's/^/  > /'; }
# npm, quiet and offline-first (the tarball's dependencies come from the npm cache when they can).
NPM_FLAGS=(--prefer-offline --no-audit --no-fund --loglevel=warn)

[ -d "$root/node_modules/typescript" ] && [ -d "$root/node_modules/prebuildify" ] ||
  fail "no devDependencies in $root/node_modules: run npm ci first"
tsc=$root/node_modules/typescript/bin/tsc
types_node=$(node -p "require('$root/node_modules/@types/node/package.json').version") || fail "no @types/node"

# --- 1. a scratch copy of the source: what `files` ships and what prepack builds from --------
begin copy
src=$work/src
mkdir -p "$src"
mapfile -t shipped < <(node -e "
  const p = require('$root/package.json');
  for (const f of p.files) if (!f.startsWith('!') && f !== 'dist' && f !== 'prebuilds') console.log(f);")
(
  cd "$root" &&
  for e in package.json .npmrc tsconfig.json src scripts README.md LICENSE* "${shipped[@]}"; do
    [ -e "$e" ] && cp -r --parents "$e" "$src/"
  done
) || fail "copying the source"
ln -s "$root/node_modules" "$src/node_modules"

# --- 2. npm pack: prepack compiles dist/ and the prebuild ----------------------------------
begin pack
(cd "$src" && npm pack --pack-destination "$work" --json >"$work/pack.json" 2>"$work/pack.log") ||
  { show "$work/pack.log" 40; fail "npm pack failed"; }
tgz=$work/$(node -p "require('$work/pack.json')[0].filename")
[ -f "$tgz" ] || fail "no tarball"
grep '^prepack: ' "$work/pack.log" | sed 's/^/  /'
node -e "
  const [p] = require('$work/pack.json');
  const kib = (n) => (n / 1024).toFixed(0) + ' KiB';
  const pre = p.files.find((f) => f.path === 'prebuilds/linux-x64/epoxy.node');
  console.log('  tarball ' + p.filename + ': ' + kib(p.size) + ' packed, ' + kib(p.unpackedSize) + ' unpacked, ' +
    p.entryCount + ' files (prebuild ' + (pre ? kib(pre.size) : 'MISSING') + ')');
  const groups = {};
  for (const f of p.files) { const top = f.path.includes('/') ? f.path.split('/')[0] + '/' : f.path; groups[top] = (groups[top] ?? 0) + 1; }
  console.log('  ' + Object.entries(groups).map(([k, v]) => k + ' ' + v).join(', '));"
tar tzf "$tgz" | sed 's|^package/||' >"$work/contents.txt"
for need in package.json dist/index.js dist/index.d.ts dist/cli/main.js prebuilds/linux-x64/epoxy.node \
  binding.gyp native/sources.gypi native/addon/addon.cc scripts/install.mjs scripts/native-support.mjs scripts/postinstall.mjs; do
  grep -qx "$need" "$work/contents.txt" || fail "the tarball has no $need"
done
bad=$(grep -E '^(build|build-[^/]*|node_modules|test|bench|src|\.ci)/|\.o$|/obj\.target/|(^|/)dist\.prepack-' "$work/contents.txt")
[ -z "$bad" ] || fail "the tarball ships build output or sources it should not: $(echo "$bad" | head -5 | tr '\n' ' ')"

# --- 3. a PATH with node and npm and no compiler ----------------------------------------------
begin no-compiler-path
bin=$work/bin
mkdir -p "$bin"
for c in node npm npx sh env; do
  p=$(command -v "$c") || fail "no $c"
  ln -s "$p" "$bin/$c"
done
for c in g++ gcc cc c++ clang clang++ make python3 python; do
  if found=$(env -i PATH="$bin" /bin/sh -c "command -v $c"); then fail "$c is reachable from the stripped PATH: $found"; fi
done
echo "  PATH=$bin: node npm npx sh env; g++ gcc cc c++ clang make python3 all absent"
nocc() { env PATH="$bin" "$@"; }

# Projects: package.json as a user writes it (ESM, like the README's epoxy.config.ts).
new_app() {
  mkdir -p "$1" && printf '{ "name": "%s", "version": "1.0.0", "private": true, "type": "module" }\n' "$(basename "$1")" >"$1/package.json"
}

# Ports: an echo backend the script starts, a free port for the proxy's listener.
free_port() { node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })"; }
proxy_port=$(free_port)
setsid node -e "require('net').createServer((c) => c.pipe(c)).listen(0, '127.0.0.1', function () {
  require('fs').writeFileSync(process.argv[1], String(this.address().port)); })" "$work/backend.port" &
bg_groups+=($!)
for _ in $(seq 50); do [ -s "$work/backend.port" ] && break; sleep 0.1; done
backend_port=$(cat "$work/backend.port" 2>/dev/null) || fail "the echo backend did not start"

write_configs() {
  cat >"$1/epoxy.config.ts" <<EOF
import { defineConfig } from 'epoxy';

export default defineConfig({
  listeners: [{ name: 'echo', bind: '127.0.0.1:$proxy_port', mode: 'tcp', pool: 'echo' }],
  pools: { echo: { servers: ['127.0.0.1:$backend_port'] } },
  timeouts: { connectMs: 2000 },
  shutdownGraceMs: 2000,
});
EOF
  # Valid TypeScript; only validation catches the unknown pool and the port out of range.
  cat >"$1/bad.config.ts" <<EOF
import type { EpoxyConfig } from 'epoxy';

export default {
  listeners: [{ name: 'echo', bind: '127.0.0.1:$proxy_port', mode: 'tcp', pool: 'ehco' }],
  pools: { echo: { servers: ['127.0.0.1:99999'] } },
} satisfies EpoxyConfig;
EOF
  # A typo in a field name: only the types catch it.
  cat >"$1/typo.config.ts" <<EOF
import { defineConfig } from 'epoxy';

export default defineConfig({
  listeners: [{ name: 'echo', bind: '127.0.0.1:$proxy_port', mode: 'tcp', pool: 'echo' }],
  pools: { echo: { servers: ['127.0.0.1:$backend_port'] } },
  timeouts: { conectMs: 2000 },
});
EOF
}

# --- 4. "does not fit": the tarball with a prebuild this machine's glibc cannot load ----------
begin unfit-tarball
mkdir -p "$work/unfit"
tar xzf "$tgz" -C "$work/unfit" || fail "unpacking the tarball"
patched=$(node --input-type=module -e "
  import { readFileSync, writeFileSync } from 'node:fs';
  import { elfRequirements } from '$work/unfit/package/scripts/native-support.mjs';
  const file = '$work/unfit/package/prebuilds/linux-x64/epoxy.node';
  const { glibc } = elfRequirements(file);
  const from = 'GLIBC_' + glibc, to = 'GLIBC_' + glibc.replace(/[0-9]/g, '9');
  const buf = readFileSync(file);
  const at = buf.indexOf(from + '\0', 0, 'latin1');
  if (at < 0) throw new Error('no ' + from + ' in the prebuild');
  buf.write(to, at, 'latin1');
  writeFileSync(file, buf);
  console.log(from + ' -> ' + to);") || fail "patching the prebuild"
echo "  prebuild's glibc need patched: $patched"
unfit_tgz=$work/epoxy-unfit.tgz
tar czf "$unfit_tgz" -C "$work/unfit" package || fail "repacking"

# With a compiler, in the background while the rest runs (it is the slow part: a full build).
source_build=${PACK_CHECK_SOURCE_BUILD:-1}
if [ "$source_build" != 0 ]; then
  cc_app=$work/app-unfit-cc
  new_app "$cc_app"
  write_configs "$cc_app"
  setsid bash -c 'cd "$1" && npm install "${@:3}" --foreground-scripts "$2" >install.log 2>&1 &&
    npx --no epoxy check epoxy.config.ts >check.log 2>&1' _ "$cc_app" "$unfit_tgz" "${NPM_FLAGS[@]}" &
  cc_pid=$!
  bg_groups+=("$cc_pid")
fi
# Without a compiler (npm's own work mostly: light, so alongside as well).
nocc_app=$work/app-unfit-nocc
new_app "$nocc_app"
setsid bash -c 'cd "$1" && exec env PATH="$3" npm install "${@:4}" --foreground-scripts "$2" >install.log 2>&1' \
  _ "$nocc_app" "$unfit_tgz" "$bin" "${NPM_FLAGS[@]}" &
nocc_pid=$!
bg_groups+=("$nocc_pid")

# --- 5. install the real tarball with no compiler -------------------------------------------
begin install
app=$work/app
new_app "$app"
write_configs "$app"
(cd "$app" && nocc npm install "${NPM_FLAGS[@]}" --foreground-scripts "$tgz" "@types/node@$types_node" >install.log 2>&1) ||
  { show "$app/install.log"; fail "npm install of the tarball failed with no compiler"; }
epoxy_lines "$app/install.log"
grep -q '^epoxy: using the prebuilt addon prebuilds/linux-x64/epoxy.node' "$app/install.log" || fail "the install did not use the prebuild"
[ ! -e "$app/node_modules/epoxy/build" ] || fail "the install made node_modules/epoxy/build (a source build?)"
for f in scripts/install.mjs dist/index.d.ts prebuilds/linux-x64/epoxy.node; do
  [ -e "$app/node_modules/epoxy/$f" ] || fail "node_modules/epoxy/$f missing"
done

# --- 6. npx epoxy check ------------------------------------------------------------------------
begin check
(cd "$app" && nocc npx --no epoxy check epoxy.config.ts) >"$work/check-good.log" 2>&1 ||
  { show "$work/check-good.log"; fail "epoxy check rejected the good config"; }
sed 's/^/  /' "$work/check-good.log"
if (cd "$app" && nocc npx --no epoxy check bad.config.ts) >"$work/check-bad.log" 2>&1; then
  show "$work/check-bad.log"
  fail "epoxy check accepted the bad config"
fi
sed 's/^/  /' "$work/check-bad.log"
grep -q 'listeners\[0\]\.pool' "$work/check-bad.log" || fail "epoxy check did not name listeners[0].pool"
grep -q 'pools\.echo\.servers\[0\]' "$work/check-bad.log" || fail "epoxy check did not name pools.echo.servers[0]"

# --- 7. npx epoxy run: bytes through the proxy, SIGTERM, exit 0 -------------------------------
begin run
setsid bash -c 'cd "$1" && exec env PATH="$2" npx --no epoxy run --no-watch epoxy.config.ts' _ "$app" "$bin" >"$work/run.log" 2>&1 &
run_pid=$!
bg_groups+=("$run_pid")
echoed=$(node -e "
  const net = require('net');
  const msg = 'pack-check ' + process.pid + ' through epoxy\n';
  const deadline = Date.now() + 15000;
  (function attempt() {
    const c = net.connect($proxy_port, '127.0.0.1');
    let got = '';
    c.on('connect', () => c.write(msg));
    c.on('data', (d) => { got += d; if (got.length >= msg.length) { console.log(got === msg ? 'echo ok: ' + JSON.stringify(got) : 'echo WRONG: ' + JSON.stringify(got)); c.destroy(); } });
    c.on('error', () => { if (Date.now() > deadline) { console.log('no proxy on $proxy_port'); process.exit(1); } setTimeout(attempt, 100); });
  })();")
echo "  $echoed"
[[ $echoed == "echo ok:"* ]] || { show "$work/run.log"; fail "no echo through the proxy"; }
# The epoxy process itself (npx runs it as a child): its pid is in every log line.
epoxy_pid=$(node -e "
  for (const line of require('fs').readFileSync('$work/run.log', 'utf8').split('\n')) {
    try { const j = JSON.parse(line); if (j.pid) { console.log(j.pid); break; } } catch {}
  }")
[ -n "$epoxy_pid" ] && kill -0 "$epoxy_pid" 2>/dev/null || { show "$work/run.log"; fail "no pid for epoxy run in its log"; }
kill -TERM "$epoxy_pid"
for _ in $(seq 100); do kill -0 "$run_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$run_pid" 2>/dev/null; then show "$work/run.log"; fail "epoxy run did not exit within 10 s of SIGTERM"; fi
wait "$run_pid"
run_rc=$?
show "$work/run.log" 4
[ "$run_rc" -eq 0 ] || fail "epoxy run (pid $epoxy_pid) exited $run_rc after SIGTERM (expected 0)"
echo "  SIGTERM to epoxy run (pid $epoxy_pid): exited 0"
epoxy_pid=""

# --- 8. the types resolve for a user's epoxy.config.ts ---------------------------------------
begin types
# One tsc run over both files (strict, no skipLibCheck, @types/node installed as a TS project has
# it): the correct config must have no error, the typo'd one must fail on the typo.
cat >"$app/tsconfig.json" <<EOF
{
  "compilerOptions": {
    "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext",
    "strict": true, "noEmit": true, "types": ["node"]
  },
  "files": ["epoxy.config.ts", "typo.config.ts"]
}
EOF
if (cd "$app" && nocc node "$tsc" -p tsconfig.json) >"$work/tsc.log" 2>&1; then
  fail "tsc accepted typo.config.ts (conectMs): the types did not resolve"
fi
others=$(grep 'error TS' "$work/tsc.log" | grep -v '^typo\.config\.ts(')
[ -z "$others" ] || { show "$work/tsc.log"; fail "tsc errors outside typo.config.ts (epoxy.config.ts or the package's types)"; }
grep -q "^typo\.config\.ts(.*conectMs" "$work/tsc.log" || { show "$work/tsc.log"; fail "tsc failed on typo.config.ts, but not on conectMs"; }
echo "  tsc: epoxy.config.ts type-checks; typo.config.ts does not:"
grep 'error TS' "$work/tsc.log" | head -2 | sed 's/^/    /'

# --- 9. does not fit, no compiler: a clear failure ----------------------------------------------
begin unfit-no-compiler
if wait "$nocc_pid"; then
  show "$nocc_app/install.log"
  fail "npm install succeeded with an unloadable prebuild and no compiler"
fi
epoxy_lines "$nocc_app/install.log"
grep -q "does not load on this machine" "$nocc_app/install.log" || fail "no 'does not load' message"
grep -q "cannot build the addon from source: .*g++" "$nocc_app/install.log" || fail "no 'cannot build ... g++' message"
grep -q "apt-get install python3 make g++" "$nocc_app/install.log" || fail "no install hint"

# --- 10. does not fit, with a compiler: the source build (started in step 4) -------------------
begin unfit-with-compiler
if [ "$source_build" = 0 ]; then
  echo "pack-check: ok, except the source build with a compiler (PACK_CHECK_SOURCE_BUILD=0) ($((SECONDS - t0)) s)"
  exit 0
fi
wait "$cc_pid"
cc_rc=$?
epoxy_lines "$cc_app/install.log"
[ "$cc_rc" -eq 0 ] || { show "$cc_app/install.log"; show "$cc_app/check.log" 2>/dev/null; fail "install or check with a compiler failed"; }
grep -q "does not load on this machine" "$cc_app/install.log" || fail "no 'does not load' message"
grep -q "needs glibc ≥ 9" "$cc_app/install.log" || fail "the message does not name the glibc the prebuild needs"
grep -q "^epoxy: built the addon from source" "$cc_app/install.log" || fail "no source build"
[ -f "$cc_app/node_modules/epoxy/build/Release/epoxy.node" ] || fail "no build/Release/epoxy.node"
sed 's/^/  /' "$cc_app/check.log"

begin done
echo "pack-check: ok ($((SECONDS - t0)) s)"
