// The contenders: how each one is started (its config file is in bench/configs/), which process
// is measured, and how it is stopped (by PID, through bench/lib/procs.mjs).
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startProcess, stopProcess, waitForPort } from './procs.mjs';
import { ROOT } from './tools.mjs';

const CONFIGS = join(ROOT, 'bench/configs');

/**
 * id → definition. `mode`: which scenarios it fits ('tcp' = TCP-mode proxies, 'http' = HTTP-mode
 * proxies, 'tls' = TCP-mode proxies in front of nginx's HTTPS port, 'any' = direct). `backend:
 * 'tls'`: it forwards to (or, without a `kind`, is) nginx's HTTPS port. `color` is its bar colour
 * in every chart.
 */
export const CONTENDERS = {
  direct: { id: 'direct', label: 'direct', mode: 'any', color: '#9aa0a6', about: 'wrk/ab straight to nginx, no proxy: the floor' },
  epoxy: { id: 'epoxy', label: 'epoxy', mode: 'tcp', kind: 'epoxy', config: 'epoxy-tcp.config.mjs', color: '#0b8a7e', about: 'epoxy TCP mode, native round robin' },
  // The same config with `congestion: 'cubic'` on the listener and pool: what a host defaulting
  // to bbr (whose internal pacing runs a timer per burst without the fq qdisc) costs in bulk.
  'epoxy-cubic': { id: 'epoxy-cubic', label: 'epoxy cubic', mode: 'tcp', kind: 'epoxy', config: 'epoxy-tcp.config.mjs', env: { BENCH_CONGESTION: 'cubic' }, color: '#076b62', about: 'epoxy TCP mode, its sockets on TCP congestion control cubic (listeners[].congestion, pools.<name>.congestion)' },
  'epoxy+hook': { id: 'epoxy+hook', label: 'epoxy+hook', mode: 'tcp', kind: 'epoxy', config: 'epoxy-hook.config.mjs', hook: true, color: '#5cc2b5', about: 'epoxy TCP mode, every connection through the JS select hook' },
  'haproxy-tcp': { id: 'haproxy-tcp', label: 'haproxy tcp', mode: 'tcp', kind: 'haproxy', config: 'haproxy-tcp.cfg', color: '#e8710a', about: 'haproxy, TCP mode, no splice' },
  'haproxy-tcp-splice': { id: 'haproxy-tcp-splice', label: 'haproxy tcp+splice', mode: 'tcp', kind: 'haproxy', config: 'haproxy-tcp-splice.cfg', color: '#b3470a', about: 'haproxy, TCP mode, splice forced both ways' },
  'epoxy-http': { id: 'epoxy-http', label: 'epoxy http', mode: 'http', kind: 'epoxy', config: 'epoxy-http.config.mjs', needsEpoxyHttp: true, color: '#0b8a7e', about: 'epoxy HTTP mode, native balancer' },
  // The same config with an access log line per request, written to a file in the run's temp dir:
  // what logging costs, most of it on the JS thread.
  'epoxy-http+log': { id: 'epoxy-http+log', label: 'epoxy+log http', mode: 'http', kind: 'epoxy', config: 'epoxy-http.config.mjs', needsEpoxyHttp: true, accessLog: true, color: '#3c9d91', about: 'epoxy HTTP mode, native balancer, an access log line per request (accessLog full, to a file)' },
  'epoxy-http+hook': { id: 'epoxy-http+hook', label: 'epoxy+hook http', mode: 'http', kind: 'epoxy', config: 'epoxy-http-hook.config.mjs', needsEpoxyHttp: true, hook: true, color: '#5cc2b5', about: 'epoxy HTTP mode, every request through the JS select hook' },
  // The balancer scenario: one config, four servers (nginx on 127.0.0.1-4), BENCH_BALANCE picks the balancer.
  'lb-roundrobin': { id: 'lb-roundrobin', label: 'roundrobin', mode: 'http', kind: 'epoxy', config: 'epoxy-http-balance.config.mjs', env: { BENCH_BALANCE: 'roundrobin' }, color: '#0b8a7e', about: 'epoxy HTTP, 4 servers, smooth weighted round robin' },
  'lb-leastconn': { id: 'lb-leastconn', label: 'leastconn', mode: 'http', kind: 'epoxy', config: 'epoxy-http-balance.config.mjs', env: { BENCH_BALANCE: 'leastconn' }, color: '#2a9d8f', about: 'epoxy HTTP, 4 servers, leastconn' },
  'lb-p2c': { id: 'lb-p2c', label: 'p2c', mode: 'http', kind: 'epoxy', config: 'epoxy-http-balance.config.mjs', env: { BENCH_BALANCE: 'p2c' }, color: '#57b8a8', about: 'epoxy HTTP, 4 servers, power of two choices' },
  'lb-hash': { id: 'lb-hash', label: 'hash host', mode: 'http', kind: 'epoxy', config: 'epoxy-http-balance.config.mjs', env: { BENCH_BALANCE: 'hash' }, color: '#8ccfc4', about: 'epoxy HTTP, 4 servers, consistent hash by Host' },
  'lb-hook': { id: 'lb-hook', label: 'TS hook', mode: 'http', kind: 'epoxy', config: 'epoxy-http-balance.config.mjs', env: { BENCH_BALANCE: 'hook' }, hook: true, color: '#5cc2b5', about: 'epoxy HTTP, 4 servers, every request decided by a TypeScript select hook' },
  'haproxy-http': { id: 'haproxy-http', label: 'haproxy http', mode: 'http', kind: 'haproxy', config: 'haproxy-http.cfg', color: '#e8710a', about: 'haproxy, HTTP mode, keep-alive, http-reuse always' },
  'http-proxy': { id: 'http-proxy', label: 'http-proxy (node)', mode: 'http', kind: 'node', config: 'http-proxy.mjs', color: '#7b5ea7', about: 'node http + the http-proxy package, keep-alive agent' },
  // TLS passthrough: TCP-mode proxies in front of nginx's HTTPS listener (`backend: 'tls'`); wrk
  // speaks TLS to nginx through them. The -plain ones forward without looking at the hello: the
  // difference to the -sni ones is the cost of reading the ClientHello and matching its name.
  'direct-tls': { id: 'direct-tls', label: 'direct (tls)', mode: 'tls', backend: 'tls', color: '#9aa0a6', about: 'wrk straight to nginx\'s TLS port, no proxy: the floor' },
  'epoxy-sni': { id: 'epoxy-sni', label: 'epoxy sni', mode: 'tls', backend: 'tls', kind: 'epoxy', config: 'epoxy-sni.config.mjs', color: '#0b8a7e', about: 'epoxy TCP mode, routes by the ClientHello\'s SNI (exact, wildcard, catch-all), then forwards like plain TCP mode' },
  'epoxy-tls-plain': { id: 'epoxy-tls-plain', label: 'epoxy tcp (tls)', mode: 'tls', backend: 'tls', kind: 'epoxy', config: 'epoxy-tls-plain.config.mjs', color: '#5cc2b5', about: 'epoxy TCP mode, one pool, no inspection' },
  'haproxy-sni': { id: 'haproxy-sni', label: 'haproxy sni', mode: 'tls', backend: 'tls', kind: 'haproxy', config: 'haproxy-sni.cfg', color: '#e8710a', about: 'haproxy TCP mode, tcp-request inspect-delay + req.ssl_sni, no splice' },
  'haproxy-tls-plain': { id: 'haproxy-tls-plain', label: 'haproxy tcp (tls)', mode: 'tls', backend: 'tls', kind: 'haproxy', config: 'haproxy-tls-plain.cfg', color: '#f4a259', about: 'haproxy TCP mode, no inspection, no splice' },
};

/** haproxy's connection and pipe limits, sized so that 2*maxconn + 2*maxpipes fits the fd limit. */
export function haproxyLimits(nofile) {
  const usable = Math.max(1000, nofile - 500);
  const maxconn = Math.min(20_000, Math.floor(usable * 0.4));
  const maxpipes = Math.max(16, Math.min(1024, Math.floor((usable - 2 * maxconn) / 2)));
  return { maxconn, maxpipes };
}

/** Contenders with a thread count of their own (epoxy's engine.threads, haproxy's nbthread). */
export const isThreaded = (def) => def.kind === 'epoxy' || def.kind === 'haproxy';

/**
 * A cell's label: the contender's, plus its thread count when the scenario names them
 * (`sc.labelThreads`: a run with `--threads` other than the default 1).
 */
export function cellLabel(cell, sc) {
  const base = CONTENDERS[cell.contender]?.label ?? cell.contender;
  if (cell.threads === undefined || !sc?.labelThreads) return base;
  return `${base} (${cell.threads} thread${cell.threads === 1 ? '' : 's'})`;
}

function wrapPinned(cmd, args, cpus) {
  return cpus ? ['taskset', ['-c', cpus, cmd, ...args]] : [cmd, args];
}

/**
 * Starts a contender in front of the backend; resolves { def, port, pid (the process whose CPU
 * and RSS are measured), proc, threads, adminPort (epoxy: its admin server, for /stats),
 * hookCalled() (hook contenders only), stop() }. `direct` starts nothing and points at the
 * backend (`direct-tls`: at its HTTPS port). `threads` (epoxy and haproxy only; default 1): epoxy's
 * engine.threads (BENCH_THREADS) and haproxy's nbthread (BENCH_NBTHREAD) — set explicitly, never
 * left to 'auto'. `tlsBackendPort`: nginx's HTTPS port, BENCH_TLS_BACKEND_PORT of the TLS
 * contenders (needed by those only); `env`: more variables for the config (bench/strace-sni.mjs).
 */
export async function startContender(def, { backendPort, tlsBackendPort, nofile, proxyCpus, markerDir, threads = 1, env: extraEnv }) {
  if (def.backend === 'tls' && !tlsBackendPort) throw new Error(`${def.id} needs the backend's TLS listener (startBackend with tls)`);
  if (!def.kind) return { def, port: def.backend === 'tls' ? tlsBackendPort : backendPort, pid: undefined, proc: undefined, stop: async () => {} };
  const port = await freePort();
  const env = { ...(def.env ?? {}), ...(extraEnv ?? {}), BENCH_LISTEN_PORT: String(port), BENCH_BACKEND_PORT: String(backendPort) };
  if (tlsBackendPort) env.BENCH_TLS_BACKEND_PORT = String(tlsBackendPort);
  let cmd;
  let args;
  let adminPort;
  let accessLogFile;
  if (def.kind === 'epoxy') {
    // The CLI, as a user runs it; warnings only (a select-hook fallback would show up here).
    [cmd, args] = [process.execPath, [join(ROOT, 'dist/cli/main.js'), 'run', join(CONFIGS, def.config)]];
    env.EPOXY_LOG_LEVEL = 'warn';
    env.BENCH_THREADS = String(threads);
    // The admin server (loopback): the harness reads /stats' per-thread counts around each run.
    do adminPort = await freePort();
    while (adminPort === port);
    env.BENCH_ADMIN_PORT = String(adminPort);
    // The hook configs write this file on the hook's first call: proof that the hook runs.
    if (def.hook) env.BENCH_HOOK_MARKER = join(markerDir, `hook-called-${port}`);
    if (def.accessLog) env.BENCH_ACCESS_LOG = accessLogFile = join(markerDir, `access-${port}.log`);
  } else if (def.kind === 'haproxy') {
    const { maxconn, maxpipes } = haproxyLimits(nofile);
    [cmd, args] = ['haproxy', ['-db', '-f', join(CONFIGS, def.config)]];
    env.BENCH_MAXCONN = String(maxconn);
    env.BENCH_MAXPIPES = String(maxpipes);
    env.BENCH_NBTHREAD = String(threads);
  } else if (def.kind === 'node') {
    [cmd, args] = [process.execPath, ['--no-deprecation', join(CONFIGS, def.config)]];
  } else {
    throw new Error(`unknown contender kind ${def.kind}`);
  }
  [cmd, args] = wrapPinned(cmd, args, proxyCpus);
  const proc = startProcess(def.id, cmd, args, { env, cwd: ROOT, keepOutput: false });
  try {
    await waitForPort(port, { proc });
    // The admin server listens a moment after the proxy: wait for it too, so that the next
    // contender's free port cannot be this one's admin port, picked but not yet bound.
    if (adminPort) await waitForPort(adminPort, { proc });
  } catch (err) {
    await stopProcess(proc);
    throw err;
  }
  const hookCalled = env.BENCH_HOOK_MARKER ? () => existsSync(env.BENCH_HOOK_MARKER) : undefined;
  const stop = async () => {
    await stopProcess(proc);
    if (accessLogFile) rmSync(accessLogFile, { force: true });
  };
  return { def, port, pid: proc.pid, proc, threads: isThreaded(def) ? threads : undefined, adminPort, accessLogFile, hookCalled, stop };
}
