// Setting up a fresh Linux machine for the benchmark: the system tools (apt, via
// scripts/ensure-tools.sh, which says what it installs), the npm packages, and an up-to-date build
// of epoxy. Also collects the versions the report prints.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');

const SYSTEM_TOOLS = ['haproxy=haproxy', 'wrk=wrk', 'ab=apache2-utils', 'nginx=nginx', 'openssl=openssl'];

function run(cmd, args, what) {
  process.stderr.write(`bench: ${what}: ${cmd} ${args.join(' ')}\n`);
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`${what} failed (${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal})`);
}

/** Installs haproxy, wrk, ab (apache2-utils), nginx and openssl (the TLS scenarios' certificate) with apt when missing. */
export function ensureSystemTools() {
  ensureTools(SYSTEM_TOOLS);
}

/** Installs the missing ones of `pairs` ('command=package', scripts/ensure-tools.sh's arguments) with apt. */
export function ensureTools(pairs) {
  run('bash', [join(ROOT, 'scripts/ensure-tools.sh'), ...pairs], 'checking system tools');
}

function newestMtime(path) {
  if (!existsSync(path)) return 0;
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  let newest = 0;
  for (const e of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, e)));
  return newest;
}

function addonPath() {
  // node-gyp-build looks in build/Release first, then prebuilds/.
  const built = join(ROOT, 'build/Release/epoxy.node');
  if (existsSync(built)) return built;
  const pre = join(ROOT, `prebuilds/${process.platform}-${process.arch}`);
  if (existsSync(pre)) {
    const f = readdirSync(pre).find((n) => n.endsWith('.node'));
    if (f) return join(pre, f);
  }
  return undefined;
}

/**
 * Makes sure dist/ and the addon exist and are newer than their sources. `mode`: 'auto' (build
 * what is missing or stale), 'always', or 'never' (use what is there, warn when stale).
 */
export function ensureEpoxyBuilt(mode = 'auto') {
  if (!existsSync(join(ROOT, 'node_modules/.package-lock.json')) && !existsSync(join(ROOT, 'node_modules/typescript'))) {
    if (mode === 'never') throw new Error('node_modules is missing; run `npm install` first');
    run('npm', ['install'], 'installing npm packages and building epoxy');
  }
  const addon = addonPath();
  const nativeStale = !addon || newestMtime(join(ROOT, 'native')) > statSync(addon).mtimeMs || newestMtime(join(ROOT, 'binding.gyp')) > statSync(addon).mtimeMs;
  const distIndex = join(ROOT, 'dist/index.js');
  const tsStale = !existsSync(distIndex) || newestMtime(join(ROOT, 'src')) > newestMtime(join(ROOT, 'dist'));
  if (mode === 'never') {
    if (!addon || !existsSync(distIndex)) throw new Error('epoxy is not built; run `npm install` (or drop --no-build)');
    if (nativeStale || tsStale) process.stderr.write('bench: warning: the epoxy build is older than its sources (--no-build given); measuring it anyway\n');
    return { built: false, stale: nativeStale || tsStale };
  }
  if (mode === 'always' || nativeStale) {
    run('npm', ['run', 'build'], nativeStale ? 'the addon is missing or older than native/: building epoxy' : 'building epoxy');
  } else if (tsStale) {
    run('npm', ['run', 'build:ts'], 'dist/ is missing or older than src/: compiling the TypeScript');
  }
  return { built: mode === 'always' || nativeStale || tsStale, stale: false };
}

function firstLine(cmd, args) {
  try {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').find((l) => l.trim())?.trim();
  } catch {
    return undefined;
  }
}

export function versions() {
  const git = (args) => {
    try {
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return undefined;
    }
  };
  const commit = git(['rev-parse', '--short', 'HEAD']);
  const dirty = git(['status', '--porcelain', '--', 'native', 'src', 'binding.gyp']);
  let httpProxy;
  try {
    httpProxy = JSON.parse(readFileSync(join(ROOT, 'node_modules/http-proxy/package.json'), 'utf8')).version;
  } catch {
    // not installed
  }
  const ab = firstLine('ab', ['-V']);
  return {
    epoxy: `${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version}${commit ? ` (${commit}${dirty ? ', uncommitted changes in native/ or src/' : ''})` : ''}`,
    node: process.version,
    haproxy: /HAProxy version (\S+)/.exec(firstLine('haproxy', ['-v']) ?? '')?.[1] ?? 'unknown',
    nginx: /nginx\/(\S+)/.exec(firstLine('nginx', ['-v']) ?? '')?.[1] ?? 'unknown',
    wrk: /wrk (\S+)/.exec(firstLine('wrk', ['-v']) ?? '')?.[1] ?? 'unknown',
    ab: /Version (\S+)/.exec(ab ?? '')?.[1] ?? 'unknown',
    httpProxy: httpProxy ?? 'not installed',
  };
}

/**
 * Is epoxy's HTTP mode available? Runs `epoxy check` on the HTTP config: while HTTP mode does not
 * exist the check fails and the epoxy HTTP cells are reported as not available.
 */
export function epoxyHttpAvailable() {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/cli/main.js'), 'check', join(ROOT, 'bench/configs/epoxy-http.config.mjs')], {
    encoding: 'utf8',
    env: { ...process.env, BENCH_LISTEN_PORT: '1', BENCH_BACKEND_PORT: '2' },
  });
  if (r.status === 0) return { available: true };
  const text = `${r.stdout}${r.stderr}`;
  return {
    available: false,
    reason: /HTTP mode is not available/.test(text) ? 'HTTP mode not implemented yet' : `epoxy check failed: ${text.trim().split('\n').slice(-1)[0]}`,
  };
}
