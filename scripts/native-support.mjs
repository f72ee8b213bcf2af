// Helpers for the native addon's packaging: scripts/install.mjs (shipped in the npm tarball, run
// at install) and scripts/prepack.mjs (builds the prebuild). Plain Node, no dependencies.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: one level above scripts/. */
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The N-API version the addon is built against (NAPI_VERSION in binding.gyp). */
export const NAPI_VERSION = 8;

/** "2.34" → [2, 34]; compares dotted versions numerically. */
export function compareVersions(a, b) {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function highest(names, prefix) {
  let best;
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    const v = n.slice(prefix.length);
    if (!/^\d+(\.\d+)*$/.test(v)) continue; // GLIBC_PRIVATE and the like
    if (best === undefined || compareVersions(v, best) > 0) best = v;
  }
  return best;
}

/**
 * The symbol versions an ELF shared object needs from each library (its .gnu.version_r
 * section: what `objdump -T` shows in parentheses), and the highest of each family:
 * { needs: { 'libc.so.6': ['GLIBC_2.2.5', ...], ... }, glibc: '2.34', glibcxx: '3.4.29',
 *   cxxabi: '1.3.13', needed: ['libstdc++.so.6', ...] }. Throws on a file that is not ELF64 LE.
 */
export function elfRequirements(file) {
  const buf = readFileSync(file);
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${file} is not an ELF file`);
  if (buf[4] !== 2 || buf[5] !== 1) throw new Error(`${file} is not a 64-bit little-endian ELF file`);
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shentsize = buf.readUInt16LE(0x3a);
  const shnum = buf.readUInt16LE(0x3c);
  const sections = [];
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * shentsize;
    sections.push({
      type: buf.readUInt32LE(o + 4),
      offset: Number(buf.readBigUInt64LE(o + 0x18)),
      size: Number(buf.readBigUInt64LE(o + 0x20)),
      link: buf.readUInt32LE(o + 0x28),
      info: buf.readUInt32LE(o + 0x2c),
    });
  }
  const cstr = (strtab, off) => {
    const start = strtab.offset + off;
    return buf.toString('latin1', start, buf.indexOf(0, start));
  };
  const needs = {};
  const SHT_GNU_VERNEED = 0x6ffffffe;
  for (const s of sections.filter((x) => x.type === SHT_GNU_VERNEED)) {
    const strtab = sections[s.link];
    let vn = s.offset;
    for (let i = 0; i < s.info; i++) {
      const cnt = buf.readUInt16LE(vn + 2);
      const lib = cstr(strtab, buf.readUInt32LE(vn + 4));
      const names = (needs[lib] ??= []);
      let aux = vn + buf.readUInt32LE(vn + 8);
      for (let j = 0; j < cnt; j++) {
        names.push(cstr(strtab, buf.readUInt32LE(aux + 8)));
        const next = buf.readUInt32LE(aux + 12);
        if (next === 0) break;
        aux += next;
      }
      const next = buf.readUInt32LE(vn + 12);
      if (next === 0) break;
      vn += next;
    }
  }
  // DT_NEEDED: the libraries it links against, versioned or not.
  const needed = [];
  const SHT_DYNAMIC = 6;
  for (const s of sections.filter((x) => x.type === SHT_DYNAMIC)) {
    const strtab = sections[s.link];
    for (let o = s.offset; o + 16 <= s.offset + s.size; o += 16) {
      const tag = buf.readBigInt64LE(o);
      if (tag === 0n) break;
      if (tag === 1n) needed.push(cstr(strtab, Number(buf.readBigUInt64LE(o + 8))));
    }
  }
  const all = Object.values(needs).flat();
  return {
    needs,
    needed,
    glibc: highest(all, 'GLIBC_'),
    glibcxx: highest(all, 'GLIBCXX_'),
    cxxabi: highest(all, 'CXXABI_'),
  };
}

/** One line: what a binary needs ("glibc ≥ 2.34, libstdc++ with GLIBCXX_3.4.29 and CXXABI_1.3.13"). */
export function describeRequirements(req) {
  const parts = [];
  if (req.glibc) parts.push(`glibc ≥ ${req.glibc}`);
  const cxx = [req.glibcxx && `GLIBCXX_${req.glibcxx}`, req.cxxabi && `CXXABI_${req.cxxabi}`].filter(Boolean);
  if (cxx.length) parts.push(`libstdc++ with ${cxx.join(' and ')}`);
  else if (!req.needed.some((n) => n.startsWith('libstdc++'))) parts.push('no libstdc++ (linked in statically)');
  return parts.join(', ');
}

/** This machine's glibc version ("2.36"), or undefined when the C library is not glibc (musl). */
export function glibcRuntime() {
  const header = process.report?.getReport?.().header;
  return header?.glibcVersionRuntime;
}

/** linux-x64 and the like: the prebuilds/ folder name node-gyp-build looks for. */
export function platformTag() {
  return `${process.platform}-${process.arch}`;
}

/**
 * Node's headers next to this node binary (<prefix>/include/node, as in Node's release tarballs
 * and Debian's nodejs), as a node-gyp --nodedir, when they match this Node's major version and
 * no nodedir is configured already. Saves node-gyp downloading them (or failing offline).
 */
export function localNodeDir(env = process.env) {
  if (env.npm_config_nodedir) return undefined;
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  const inc = path.join(prefix, 'include', 'node');
  try {
    if (!existsSync(path.join(inc, 'common.gypi')) || !existsSync(path.join(inc, 'node_api.h'))) return undefined;
    const m = /#define NODE_MAJOR_VERSION (\d+)/.exec(readFileSync(path.join(inc, 'node_version.h'), 'utf8'));
    if (!m || m[1] !== process.versions.node.split('.')[0]) return undefined;
  } catch {
    return undefined;
  }
  return prefix;
}

/**
 * Loads the addon the way the package does at run time (node-gyp-build's resolution from `root`,
 * then require()) in a child process, so a dlopen failure (a glibc or libstdc++ too old, the
 * wrong architecture, musl) is reported as the error it is and cannot crash this process.
 * prebuildsOnly: look at prebuilds/ only (PREBUILDS_ONLY=1), not at build/.
 * Returns { ok: true, file } or { ok: false, file?, error, notFound? }.
 */
export function probeAddon(root, { prebuildsOnly = false } = {}) {
  const script = `
    const { createRequire } = require('node:module');
    const req = createRequire(${JSON.stringify(path.join(root, 'package.json'))});
    let file;
    try {
      file = req('node-gyp-build').path(${JSON.stringify(root)});
    } catch (err) {
      process.stdout.write(JSON.stringify({ ok: false, notFound: true, error: String(err.message).trim() }));
      process.exit(0);
    }
    try {
      const m = require(file);
      if (typeof m.Engine !== 'function') throw new Error(file + ' loads but is not epoxy\\'s addon (no Engine export)');
      process.stdout.write(JSON.stringify({ ok: true, file }));
    } catch (err) {
      process.stdout.write(JSON.stringify({ ok: false, file, error: String(err.message).trim() }));
    }
  `;
  const env = { ...process.env };
  if (prebuildsOnly) env.PREBUILDS_ONLY = '1';
  else delete env.PREBUILDS_ONLY;
  const r = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8' });
  try {
    return JSON.parse(r.stdout);
  } catch {
    // The child died before reporting (a crash inside the addon's initialisation).
    const why = r.signal ? `signal ${r.signal}` : `exit code ${r.status}`;
    return { ok: false, error: `loading the addon killed the process (${why}): ${(r.stderr || '').trim()}` };
  }
}

/** node-gyp as [command, ...args]: the project's own, else npm's (npm_config_node_gyp), else PATH. */
export function nodeGypCommand(root, { preferLocal = true } = {}) {
  const local = () => {
    try {
      return createRequire(path.join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js');
    } catch {
      return undefined;
    }
  };
  const fromNpm = process.env.npm_config_node_gyp;
  const script = (preferLocal && local()) || (fromNpm && existsSync(fromNpm) ? fromNpm : undefined) || local();
  return script ? [process.execPath, script] : ['node-gyp'];
}

/** Whether `cmd` (a bare name or a path) is an executable on PATH. */
export function onPath(cmd) {
  if (cmd.includes('/')) return existsSync(cmd);
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter(Boolean)
    .some((dir) => existsSync(path.join(dir, cmd)));
}
