#!/usr/bin/env node
// Syscalls per connection of epoxy's TLS passthrough: `strace -f -c -p PID` (every thread of the
// proxy process) while N new TLS connections, one request each, go through epoxy in plain TCP
// mode, with SNI routes, and both again with `proxyProtocol: 'v2'` on the pool (to nginx's
// `listen ... ssl proxy_protocol`). Prints the calls per connection by syscall for each and the
// differences: reading the ClientHello should need no syscall beyond the reads the hello takes
// anyway, and the PROXY header goes in the same write as the first bytes. Each variant runs
// `--rounds` times (interleaved, a fresh epoxy each time): how far two rounds of the same variant
// differ is the noise floor (the coalescing of nginx's TLS records into reads varies with timing).
// Usage: node bench/strace-sni.mjs [--n 2000] [--rounds 2] [--concurrency 1] [--no-setup] [--no-build]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { startBackend, TLS_NAME } from './lib/backend.mjs';
import { adminStats } from './lib/cells.mjs';
import { CONTENDERS, startContender } from './lib/contenders.mjs';
import { nofileLimit } from './lib/measure.mjs';
import { installCleanup, onExit, reapLeftovers, rememberTempDir, sleep, startProcess, stopAll, stopProcess } from './lib/procs.mjs';
import { ensureEpoxyBuilt, ensureTools } from './lib/tools.mjs';

const VARIANTS = [
  { id: 'tcp', contender: 'epoxy-tls-plain', about: 'plain TCP mode, no inspection' },
  { id: 'sni', contender: 'epoxy-sni', about: 'routes by SNI' },
  { id: 'tcp+pp2', contender: 'epoxy-tls-plain', pp: 'v2', about: "plain TCP mode, proxyProtocol: 'v2'" },
  { id: 'sni+pp2', contender: 'epoxy-sni', pp: 'v2', about: "routes by SNI, proxyProtocol: 'v2'" },
];
const COMPARISONS = [
  ['tcp', 'sni', 'SNI inspection'],
  ['tcp', 'tcp+pp2', 'PROXY v2 header'],
  ['sni', 'sni+pp2', 'PROXY v2 header after SNI routing'],
];

function parseArgs(argv) {
  const o = { n: 2000, rounds: 2, concurrency: 1, setup: true, build: 'auto' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--n') o.n = Number(argv[++i]);
    else if (a === '--concurrency') o.concurrency = Number(argv[++i]);
    else if (a === '--rounds') o.rounds = Number(argv[++i]);
    else if (a === '--no-setup') o.setup = false;
    else if (a === '--no-build') o.build = 'never';
    else if (a === '-h' || a === '--help') o.help = true;
    else throw new Error(`unknown option ${a}`);
  }
  for (const k of ['n', 'rounds', 'concurrency']) if (!(Number.isInteger(o[k]) && o[k] >= 1)) throw new Error(`--${k} must be a whole number ≥ 1`);
  return o;
}

/**
 * One TLS connection (SNI TLS_NAME, no session reuse: node:tls resumes only when given a
 * session), one GET /1k with Connection: close, the whole response read. The client waits for
 * nginx's close_notify and FIN, then closes without a close_notify of its own: a close_notify
 * sent after nginx's close() would draw a RST from nginx (a race that would add syscalls and
 * error paths at random).
 */
function oneRequest(port) {
  return new Promise((resolve) => {
    let head = '';
    let bytes = 0;
    const s = tls.connect({ host: '127.0.0.1', port, servername: TLS_NAME, rejectUnauthorized: false, allowHalfOpen: true });
    const done = (ok) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(10_000, () => done(false));
    s.on('secureConnect', () => s.write(`GET /1k HTTP/1.1\r\nHost: ${TLS_NAME}\r\nConnection: close\r\n\r\n`));
    s.on('data', (d) => {
      if (head.length < 12) head += d.toString('latin1', 0, Math.min(d.length, 12));
      bytes += d.length;
    });
    s.on('end', () => done(head.startsWith('HTTP/1.1 200') && bytes > 1024));
    s.on('error', () => done(false));
  });
}

async function load(port, n, concurrency) {
  let next = 0;
  let ok = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      if (await oneRequest(port)) ok++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return { ok, failed: n - ok };
}

/** strace -c's table → Map name → { calls, errors }. */
function parseStraceSummary(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?([a-z_0-9]+)\s*$/.exec(line);
    if (m && m[3] !== 'total') out.set(m[3], { calls: Number(m[1]), errors: Number(m[2] ?? 0) });
  }
  return out;
}

/** epoxy's /metrics counter of TLS inspections with outcome `sni`, summed over listeners. */
async function sniInspections(adminPort) {
  const text = await fetch(`http://127.0.0.1:${adminPort}/metrics`).then((r) => r.text());
  let n = 0;
  for (const m of text.matchAll(/^epoxy_listener_tls_inspections_total\{[^}]*outcome="sni"[^}]*\} (\d+)/gm)) n += Number(m[1]);
  return n;
}

/** Server resets and client aborts from /stats (both should stay 0 with the clean close above). */
async function resets(adminPort) {
  const s = await adminStats(adminPort);
  const serverResets = (s?.pools ?? []).flatMap((p) => p.servers ?? []).reduce((n, x) => n + (x.resets ?? 0), 0);
  return { serverResets, aborts: s?.totals?.aborts ?? 0 };
}

async function measureVariant(v, round, { backend, tmp, opts, log }) {
  const def = CONTENDERS[v.contender];
  const tlsBackendPort = v.pp ? backend.tlsProxyPort : backend.tlsPort;
  const c = await startContender(def, { backendPort: backend.port, tlsBackendPort, nofile: nofileLimit(), markerDir: tmp, threads: 1, env: v.pp ? { BENCH_PROXY_PROTOCOL: v.pp } : {} });
  try {
    const warm = await load(c.port, 50, opts.concurrency);
    if (warm.failed) throw new Error(`${v.id}: ${warm.failed} of 50 warm-up connections failed`);
    const sni0 = await sniInspections(c.adminPort);
    const r0 = await resets(c.adminPort);
    const out = join(tmp, `strace-${v.id}-${round}.txt`);
    const st = startProcess('strace', 'strace', ['-f', '-c', '-o', out, '-p', String(c.pid)]);
    for (let i = 0; i < 100 && !/attached/.test(st.stderr()); i++) await sleep(50);
    if (!/attached/.test(st.stderr())) throw new Error(`strace did not attach to ${c.pid}: ${st.output()}`);
    await sleep(300); // every thread attached
    const t0 = Date.now();
    const got = await load(c.port, opts.n, opts.concurrency);
    const secs = (Date.now() - t0) / 1000;
    await stopProcess(st, { signal: 'SIGINT', graceMs: 5000 });
    const calls = parseStraceSummary(readFileSync(out, 'utf8'));
    const sni = (await sniInspections(c.adminPort)) - sni0;
    const r1 = await resets(c.adminPort);
    const row = { ...v, round, calls, ok: got.ok, failed: got.failed, secs, sniInspected: sni, serverResets: r1.serverResets - r0.serverResets, aborts: r1.aborts - r0.aborts };
    log(`strace-sni: round ${round}: ${v.id} (${v.about}): ${got.ok} connections in ${secs.toFixed(1)} s under strace, ${got.failed} failed, ${sni} ClientHellos inspected, ${row.serverResets} server resets, ${row.aborts} aborts`);
    return row;
  } finally {
    await c.stop();
  }
}

/**
 * The rounds of each variant → one row per variant: calls and errors per connection (mean over
 * the rounds) by syscall, and `spread`, the largest difference between two of its rounds.
 */
function perConnection(results) {
  const rows = [];
  for (const v of VARIANTS) {
    const rounds = results.filter((r) => r.id === v.id);
    const names = new Set(rounds.flatMap((r) => [...r.calls.keys()]));
    const calls = new Map();
    const spread = new Map();
    for (const name of names) {
      const each = rounds.map((r) => (r.calls.get(name)?.calls ?? 0) / (r.ok + r.failed));
      const errors = rounds.map((r) => (r.calls.get(name)?.errors ?? 0) / (r.ok + r.failed));
      calls.set(name, { calls: each.reduce((a, b) => a + b, 0) / each.length, errors: errors.reduce((a, b) => a + b, 0) / errors.length });
      spread.set(name, Math.max(...each) - Math.min(...each));
    }
    const totals = rounds.map((r) => [...r.calls.values()].reduce((s, x) => s + x.calls, 0) / (r.ok + r.failed));
    rows.push({ ...v, calls, spread, totalSpread: Math.max(...totals) - Math.min(...totals) });
  }
  return rows;
}

function report(rows, n, rounds) {
  const by = new Map(rows.map((r) => [r.id, r]));
  const per = (r, name) => r.calls.get(name)?.calls ?? 0;
  const errs = (r, name) => r.calls.get(name)?.errors ?? 0;
  const noise = (name) => Math.max(...rows.map((r) => r.spread.get(name) ?? 0));
  const lines = [];
  const names = [...new Set(rows.flatMap((r) => [...r.calls.keys()]))].sort((a, b) => per(by.get('tcp'), b) - per(by.get('tcp'), a) || a.localeCompare(b));
  const f = (x) => (x === 0 ? '0' : x.toFixed(3));
  lines.push(`Syscalls per connection (strace -f -c -p PID of the epoxy process, all threads; ${n} new TLS connections, one GET /1k each; 1 engine thread; mean of ${rounds} round${rounds === 1 ? '' : 's'}). Errors (EAGAIN, EINPROGRESS) in brackets. Noise: the largest difference between two rounds of one variant.`);
  lines.push('');
  lines.push(`| syscall | ${rows.map((r) => r.id).join(' | ')} | ${COMPARISONS.map(([a, b]) => `${b} − ${a}`).join(' | ')} | noise |`);
  lines.push(`|:---|${rows.map(() => '---:').join('|')}|${COMPARISONS.map(() => '---:').join('|')}|---:|`);
  const cell = (r, name) => `${f(per(r, name))}${errs(r, name) ? ` (${f(errs(r, name))})` : ''}`;
  const diff = (a, b, name) => {
    const d = per(by.get(b), name) - per(by.get(a), name);
    return Math.abs(d) < 0.0005 ? '0' : `${d > 0 ? '+' : ''}${d.toFixed(3)}`;
  };
  for (const name of names) lines.push(`| ${name} | ${rows.map((r) => cell(r, name)).join(' | ')} | ${COMPARISONS.map(([a, b]) => diff(a, b, name)).join(' | ')} | ${rounds > 1 ? f(noise(name)) : '–'} |`);
  const total = (r) => [...r.calls.values()].reduce((s, x) => s + x.calls, 0);
  const totalNoise = Math.max(...rows.map((r) => r.totalSpread));
  lines.push(`| **total** | ${rows.map((r) => `**${f(total(r))}**`).join(' | ')} | ${COMPARISONS.map(([a, b]) => `**${(total(by.get(b)) - total(by.get(a))).toFixed(3)}**`).join(' | ')} | ${rounds > 1 ? f(totalNoise) : '–'} |`);
  lines.push('');
  for (const [a, b, what] of COMPARISONS) {
    const d = (name) => per(by.get(b), name) - per(by.get(a), name);
    // A difference larger than two rounds of the same variant differ by (+0.01).
    const beyond = names.filter((name) => Math.abs(d(name)) > (rounds > 1 ? noise(name) : 0) + 0.01).map((name) => `${name} ${d(name) > 0 ? '+' : ''}${d(name).toFixed(3)}`);
    lines.push(`- ${what} (${b} − ${a}): ${(total(by.get(b)) - total(by.get(a))).toFixed(3)} syscalls per connection (epoll_wait ${d('epoll_wait').toFixed(3)}); beyond the noise: ${beyond.join(', ') || 'none'}`);
  }
  return lines.join('\n');
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.help) {
    process.stdout.write('Usage: node bench/strace-sni.mjs [--n 2000] [--concurrency 1] [--no-setup] [--no-build]\n');
    return;
  }
  const log = (s) => process.stderr.write(`${s}\n`);
  installCleanup();
  reapLeftovers(log);
  if (opts.setup) ensureTools(['strace=strace', 'nginx=nginx', 'openssl=openssl']);
  ensureEpoxyBuilt(opts.build);
  const tmp = mkdtempSync(join(tmpdir(), 'epoxy-bench-'));
  rememberTempDir(tmp);
  onExit(() => rmSync(tmp, { recursive: true, force: true }));
  const results = [];
  try {
    const backend = await startBackend(tmp, { tls: true });
    log(`strace-sni: nginx TLS on 127.0.0.1:${backend.tlsPort}, TLS after PROXY header on ${backend.tlsProxyPort}; ${opts.n} connections per variant and round, ${opts.concurrency} at a time, ${opts.rounds} round(s)`);
    for (let round = 1; round <= opts.rounds; round++) for (const v of VARIANTS) results.push(await measureVariant(v, round, { backend, tmp, opts, log }));
  } finally {
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
  for (const r of results) {
    const want = r.contender === 'epoxy-sni' ? r.ok : 0;
    if (r.failed || r.sniInspected !== want || r.serverResets || r.aborts) log(`strace-sni: warning: ${r.id} round ${r.round}: ${r.failed} failed, ${r.sniInspected} hellos inspected (expected ${want}), ${r.serverResets} server resets, ${r.aborts} aborts`);
  }
  process.stdout.write(`\n${report(perConnection(results), opts.n, opts.rounds)}\n`);
}

main().catch(async (err) => {
  process.stderr.write(`strace-sni: ${err?.stack ?? err}\n`);
  await stopAll();
  process.exit(1);
});
