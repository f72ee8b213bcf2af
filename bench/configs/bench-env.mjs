// What every epoxy contender config takes from the harness: the ports it is given, its engine
// thread count, the admin server the harness reads per-thread stats from, and, for the hook
// contenders, the marker that proves the hook really runs.
import { writeFileSync } from 'node:fs';

/** BENCH_LISTEN_PORT and BENCH_BACKEND_PORT, both required. */
export function benchPorts() {
  const listen = process.env.BENCH_LISTEN_PORT;
  const backend = process.env.BENCH_BACKEND_PORT;
  if (!listen || !backend) throw new Error('set BENCH_LISTEN_PORT and BENCH_BACKEND_PORT');
  return { listen, backend };
}

/**
 * The TLS passthrough configs: BENCH_LISTEN_PORT and BENCH_TLS_BACKEND_PORT (nginx's HTTPS port),
 * both required; with BENCH_PROXY_PROTOCOL ('v1' or 'v2', bench/strace-sni.mjs) the pool sends
 * the PROXY protocol (the harness then points BENCH_TLS_BACKEND_PORT at nginx's `ssl
 * proxy_protocol` listener).
 */
export function benchTlsPorts() {
  const listen = process.env.BENCH_LISTEN_PORT;
  const tlsBackend = process.env.BENCH_TLS_BACKEND_PORT;
  if (!listen || !tlsBackend) throw new Error('set BENCH_LISTEN_PORT and BENCH_TLS_BACKEND_PORT');
  const pp = process.env.BENCH_PROXY_PROTOCOL;
  if (pp && pp !== 'v1' && pp !== 'v2') throw new Error(`BENCH_PROXY_PROTOCOL must be v1 or v2, got "${pp}"`);
  return { listen, tlsBackend, proxyProtocol: pp ? { proxyProtocol: pp } : {} };
}

/**
 * The engine settings every bench config uses: `threads` from BENCH_THREADS (the harness's
 * `--threads`), 1 when unset — always a number, never 'auto', so a run compares the thread counts
 * it names, whatever the machine (or EPOXY_THREADS) would give.
 */
export function benchEngine() {
  const raw = process.env.BENCH_THREADS ?? '1';
  const threads = Number(raw);
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) throw new Error(`BENCH_THREADS must be a whole number from 1 to 64, got "${raw}"`);
  // BENCH_COALESCE_SESSIONS: engine.coalesceSessions for an experiment (default: epoxy's own).
  const coalesce = process.env.BENCH_COALESCE_SESSIONS;
  return coalesce === undefined ? { threads } : { threads, coalesceSessions: Number(coalesce) };
}

/**
 * With BENCH_ADMIN_PORT set, the admin server on that loopback port: the harness reads /stats
 * (`threads`: requests and connections per engine thread) before and after each run. Its latency
 * window is the longest allowed so that it samples the engine every 10 minutes, not every 10 s.
 */
export function benchAdmin() {
  const port = process.env.BENCH_ADMIN_PORT;
  return port ? { admin: { bind: `127.0.0.1:${port}`, latencyWindowMs: 3_600_000 } } : {};
}

let marked = false;

/**
 * The harness checks that a hook really runs: on the hook's first call this writes the PID to
 * BENCH_HOOK_MARKER (once per process; nothing per call after that).
 */
export function markHookCalled() {
  if (marked) return;
  marked = true;
  if (process.env.BENCH_HOOK_MARKER) writeFileSync(process.env.BENCH_HOOK_MARKER, String(process.pid));
}

/** FNV-1a over a string, seeded: cheap real work for a hook to do per call. */
export function fnv1a(text, seed) {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
