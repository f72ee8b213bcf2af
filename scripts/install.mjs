// npm's `install` step for epoxy's native addon (shipped in the npm tarball).
//
// Installed from the tarball: use the prebuild in prebuilds/<platform>-<arch>/ when it loads on
// this machine (tried for real, in a child process, so a glibc or libstdc++ that is too old shows
// up as the dlopen error it is); otherwise say what did not fit and build from source with
// node-gyp (python3, make, g++). In a source checkout (src/ present) prebuilds/ is not used:
// the addon is built from source unless build/Release already holds one that loads.
//
//   EPOXY_BUILD_FROM_SOURCE=1 (or npm's --build-from-source) always builds from source.
//
// npm shows this script's output only when it fails, or with `npm install --foreground-scripts`.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import {
  NAPI_VERSION,
  compareVersions,
  describeRequirements,
  elfRequirements,
  glibcRuntime,
  localNodeDir,
  nodeGypCommand,
  onPath,
  packageRoot,
  probeAddon,
} from './native-support.mjs';

const root = packageRoot;
const sourceCheckout = existsSync(path.join(root, 'src', 'index.ts'));
const forced = process.env.npm_config_build_from_source === 'true' || process.env.EPOXY_BUILD_FROM_SOURCE === '1';
const say = (msg) => console.error(`epoxy: ${msg}`);
const rel = (file) => path.relative(root, file) || file;

function main() {
  if (forced) {
    say('building the addon from source (EPOXY_BUILD_FROM_SOURCE=1 or --build-from-source)');
    return sourceBuild();
  }
  // An earlier build in build/Release (a source checkout's, or this package's own fallback build
  // on `npm rebuild`) that loads is kept. node-gyp-build prefers build/ over prebuilds/ at run time.
  if (existsSync(path.join(root, 'build', 'Release', 'epoxy.node'))) {
    const built = probeAddon(root);
    if (built.ok && built.file.startsWith(path.join(root, 'build') + path.sep)) {
      say(`using the addon already built in ${rel(built.file)}`);
      return 0;
    }
    if (!sourceCheckout) {
      // It would shadow the prebuild at run time.
      say(`removing build/, whose addon does not load: ${(built.error ?? '').split('\n')[0]}`);
      removeBuild();
    }
  }
  if (sourceCheckout) {
    say('building the addon from source (a source checkout; the npm tarball ships a prebuild instead)');
    return sourceBuild();
  }
  const pre = probeAddon(root, { prebuildsOnly: true });
  if (pre.ok) {
    say(`using the prebuilt addon ${rel(pre.file)}`);
    return 0;
  }
  for (const line of explainMisfit(pre)) say(line);
  say('falling back to building the addon from source with node-gyp (needs python3, make and a C++20 g++; tested with g++ 12)');
  return sourceBuild();
}

/** Why the prebuild does not fit this machine, as lines to print. */
function explainMisfit(result) {
  const lines = [];
  // As node-gyp-build matches prebuilds: npm's --arch/--platform override the machine's.
  const tag = `${process.env.npm_config_platform || process.platform}-${process.env.npm_config_arch || process.arch}`;
  const glibc = glibcRuntime();
  if (result.notFound) {
    const shipped = listPrebuilds();
    lines.push(
      `no prebuilt addon fits this machine (${tag}, ${glibc ? `glibc ${glibc}` : 'not glibc (musl?)'}, Node ${process.versions.node}); ` +
        `the package ships: ${shipped.length ? shipped.join(', ') : 'none'}`,
    );
    return lines;
  }
  lines.push(`the prebuilt addon ${rel(result.file ?? 'prebuilds/')} does not load on this machine:`);
  lines.push(`  ${result.error.split('\n')[0]}`);
  let req;
  try {
    req = result.file ? elfRequirements(result.file) : undefined;
  } catch {
    req = undefined;
  }
  if (req) lines.push(`  it needs ${describeRequirements(req)}, N-API ${NAPI_VERSION} (Node ≥ 20), ${tag}`);
  if (!glibc) {
    lines.push('  this system\'s C library is not glibc (musl?); the prebuild is for glibc only');
  } else if (req?.glibc && compareVersions(glibc, req.glibc) < 0) {
    lines.push(`  this machine has glibc ${glibc}, older than the ${req.glibc} the prebuild needs`);
  } else if (req?.glibcxx && /GLIBCXX|CXXABI/.test(result.error)) {
    lines.push('  this machine\'s libstdc++ (libstdc++.so.6) is older than the prebuild\'s');
  }
  const napi = Number(process.versions.napi);
  if (napi < NAPI_VERSION) lines.push(`  this Node (${process.versions.node}) has N-API ${napi}; epoxy needs ${NAPI_VERSION} (Node ≥ 20)`);
  return lines;
}

function listPrebuilds() {
  try {
    return readdirSync(path.join(root, 'prebuilds'));
  } catch {
    return [];
  }
}

/** What a source build needs that is not on PATH. */
function missingTools() {
  const missing = [];
  const python = process.env.npm_config_python || process.env.PYTHON;
  if (python ? !onPath(python) : !onPath('python3') && !onPath('python')) missing.push(python ?? 'python3');
  if (!onPath('make')) missing.push('make');
  const cxx = (process.env.CXX ?? '').trim().split(/\s+/)[0] || 'g++';
  if (!onPath(cxx)) missing.push(cxx);
  return missing;
}

const INSTALL_HINT =
  'install them (Debian/Ubuntu: apt-get install python3 make g++; Fedora/RHEL: dnf install python3 make gcc-c++; ' +
  'Alpine: apk add python3 make g++), then run `npm rebuild epoxy`';

function removeBuild() {
  // Never leave a partial build behind for node-gyp-build to find at run time.
  if (!sourceCheckout) rmSync(path.join(root, 'build'), { recursive: true, force: true });
}

function sourceBuild() {
  const missing = missingTools();
  if (missing.length) {
    say(`cannot build the addon from source: ${missing.join(', ')} not found on PATH.`);
    say(INSTALL_HINT);
    return 1;
  }
  const [cmd, ...args] = nodeGypCommand(root, { preferLocal: sourceCheckout });
  const env = { ...process.env };
  const nodedir = localNodeDir(env);
  if (nodedir) env.npm_config_nodedir = nodedir; // headers next to node: no download
  if (!env.JOBS && !env.npm_config_jobs) env.JOBS = 'max';
  say(`node-gyp rebuild (${args[0] ?? cmd}${env.npm_config_nodedir ? `, Node headers from ${env.npm_config_nodedir}` : ''})`);
  const t0 = Date.now();
  const r = spawnSync(cmd, [...args, 'rebuild'], { cwd: root, env, stdio: 'inherit' });
  if (r.status !== 0) {
    removeBuild();
    say(`building the addon from source failed (node-gyp ${r.error ? r.error.message : `exit code ${r.status ?? r.signal}`}; its output is above).`);
    say(`It needs python3, make and a C++20 g++ (tested with g++ 12; CXX picks another compiler) and Node's headers; ${INSTALL_HINT}`);
    return 1;
  }
  const built = probeAddon(root);
  if (!built.ok || !built.file.startsWith(path.join(root, 'build') + path.sep)) {
    removeBuild();
    say(`the addon built from source does not load: ${built.error ?? `node-gyp-build resolved ${built.file}`}`);
    return 1;
  }
  say(`built the addon from source in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${rel(built.file)}`);
  return 0;
}

process.exitCode = main();
