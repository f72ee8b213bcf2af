// npm's `prepack` (before `npm pack` and `npm publish`): everything the tarball ships that is
// built rather than written.
//   1. dist/: the TypeScript, compiled afresh (into a temporary folder, then swapped in, so
//      nothing stale from removed sources ships and dist/ is never missing for long).
//   2. prebuilds/<platform>-<arch>/epoxy.node: `prebuildify --napi --strip`, run in a
//      temporary copy of binding.gyp + native/ so that the work tree's build/ (tests, a
//      developer's build) is left alone, then loaded once to prove it works.
// Prints what the prebuild needs from the machine it runs on (glibc, libstdc++, N-API).
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import {
  NAPI_VERSION,
  describeRequirements,
  elfRequirements,
  localNodeDir,
  packageRoot as root,
  platformTag,
  probeAddon,
} from './native-support.mjs';

const say = (msg) => console.error(`prepack: ${msg}`);
const require = createRequire(path.join(root, 'package.json'));

// Children write to stderr only: `npm pack --json` prints its JSON on stdout.
function run(cmd, args, opts) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 2, 2], ...opts });
    const what = `${path.basename(args[0] ?? cmd)} ${args.slice(1).join(' ')}`;
    child.on('error', (err) => reject(new Error(`${what} failed: ${err.message}`)));
    child.on('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`${what} failed (${signal ?? `exit code ${code}`})`))));
  });
}

async function buildDist() {
  const tmp = path.join(root, `dist.prepack-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  const t0 = Date.now();
  try {
    await run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json'), '--outDir', tmp]);
    rmSync(path.join(root, 'dist'), { recursive: true, force: true });
    renameSync(tmp, path.join(root, 'dist'));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  say(`dist/ compiled in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

async function buildPrebuild() {
  const stage = mkdtempSync(path.join(os.tmpdir(), 'epoxy-prebuild-'));
  try {
    for (const entry of ['package.json', 'binding.gyp', 'native']) {
      cpSync(path.join(root, entry), path.join(stage, entry), { recursive: true });
    }
    // binding.gyp resolves node-addon-api from here; prebuildify finds node-gyp in node_modules/.bin.
    symlinkSync(path.join(root, 'node_modules'), path.join(stage, 'node_modules'), 'dir');
    const env = { ...process.env };
    const nodedir = localNodeDir(env);
    if (nodedir) env.npm_config_nodedir = nodedir; // Node's headers next to node: no download
    if (!env.JOBS && !env.npm_config_jobs) env.JOBS = 'max';
    const t0 = Date.now();
    await run(process.execPath, [require.resolve('prebuildify/bin.js'), '--napi', '--strip'], { cwd: stage, env });
    const tag = platformTag();
    const built = path.join(stage, 'prebuilds', tag, 'epoxy.node');
    if (!existsSync(built)) throw new Error(`prebuildify made no ${path.join('prebuilds', tag, 'epoxy.node')}`);
    // Replace this platform's prebuilds only (others may have been built elsewhere and copied in).
    const dest = path.join(root, 'prebuilds', tag);
    rmSync(dest, { recursive: true, force: true });
    mkdirSync(dest, { recursive: true });
    cpSync(built, path.join(dest, 'epoxy.node'));
    say(`prebuilds/${tag}/epoxy.node built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

function checkPrebuild() {
  const tag = platformTag();
  const file = path.join(root, 'prebuilds', tag, 'epoxy.node');
  const loaded = probeAddon(root, { prebuildsOnly: true });
  if (!loaded.ok || loaded.file !== file) {
    throw new Error(`the prebuild does not load: ${loaded.error ?? `node-gyp-build resolved ${loaded.file}`}`);
  }
  const req = elfRequirements(file);
  const kib = Math.round(statSync(file).size / 1024);
  say(`prebuilds/${tag}/epoxy.node (${kib} KiB) needs ${describeRequirements(req)}, N-API ${NAPI_VERSION} (Node ≥ 20), ${tag}`);
}

try {
  // Both at once: tsc is one thread, the C++ build uses the others (JOBS=max).
  const results = await Promise.allSettled([buildDist(), buildPrebuild()]);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  checkPrebuild();
} catch (err) {
  say(`FAILED: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
