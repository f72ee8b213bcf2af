// One measurement ("cell" repetition): a load tool run against one contender, with the
// contender's CPU time (utime+stime of its process, all threads) and peak RSS around it.
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { cpuSeconds, cpuTimes, fdCount, peakRssKiB, resetPeakRss, rssKiB, threadCpuSeconds } from './measure.mjs';
import { parseAb, parseWrk } from './parse.mjs';
import { lastLine, runTool, sleep } from './procs.mjs';
import { ROOT } from './tools.mjs';

const WRK_SCRIPT = join(ROOT, 'bench/lib/wrk-done.lua');
/** The TLS scenarios' script: wrk-done.lua plus a lookup of the URL's host name to 127.0.0.1. */
export const WRK_TLS_SCRIPT = join(ROOT, 'bench/lib/wrk-tls.lua');

function wrap(cmd, args, cpus) {
  return cpus ? ['taskset', ['-c', cpus, cmd, ...args]] : [cmd, args];
}

/** wrk's arguments; `headers` (e.g. ['Connection: close']) become -H options, `script` replaces wrk-done.lua. */
export function wrkArgs({ connections, seconds, url, timeout = '10s', threads = 1, headers = [], script = WRK_SCRIPT }) {
  return [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, '--latency', '--timeout', timeout, ...headers.flatMap((h) => ['-H', h]), '-s', script, url];
}

export function abArgs({ connections, requests, url }) {
  // -r: keep going on receive errors (they are counted and flagged instead); -q: no progress lines;
  // -s 5: a connection the proxy never finishes fails the run after 5 s instead of ab's 30.
  return ['-q', '-r', '-s', '5', '-n', String(requests), '-c', String(connections), url];
}

/** GET /stats from an epoxy admin server on loopback: the parsed JSON, or undefined. */
export async function adminStats(port, { attempts = 3, timeoutMs = 2000 } = {}) {
  for (let i = 0; i < attempts; i++) {
    const got = await new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/stats', timeout: timeoutMs, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => {
          try {
            resolve(res.statusCode === 200 ? JSON.parse(body) : undefined);
          } catch {
            resolve(undefined);
          }
        });
        res.on('error', () => resolve(undefined));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(undefined));
    });
    if (got) return got;
    await sleep(200);
  }
  return undefined;
}

const ENGINE_THREAD = /^epoxy-engine(?:-(\d+))?$/;

/**
 * Where a process's CPU went, and how its threads shared the load, between two snapshots:
 * `tasks0/1` from threadCpuSeconds(), `stats0/1` epoxy's /stats (its `threads`: per engine
 * thread, accepted connections, requests and CPU) or undefined. For epoxy the threads are the JS
 * (main) thread, the engine threads (`epoxy-engine-<id>`) and the rest (libuv's pool, V8's
 * helpers); for haproxy every thread is a worker. The load share is by requests where /stats
 * counts them (HTTP mode), else by CPU time (TCP mode, haproxy).
 */
export function threadBreakdown({ kind, pid, tasks0, tasks1, stats0, stats1, cpuSec }) {
  const delta = [];
  for (const [tid, t] of tasks1) delta.push({ tid, comm: t.comm, sec: t.sec - (tasks0.get(tid)?.sec ?? 0) });
  delta.sort((a, b) => a.tid - b.tid);
  const sum = (list) => list.reduce((n, t) => n + t.sec, 0);
  // The threads' own times summed, next to the process's utime+stime (`cpuSec`): a check that
  // the process counter covers every thread (they agree to within the stat's 10 ms ticks).
  const out = { threadSumSec: sum(delta), processSec: cpuSec };
  let workers;
  if (kind === 'epoxy') {
    const engine = delta.filter((t) => ENGINE_THREAD.test(t.comm));
    const js = delta.filter((t) => t.tid === pid);
    const other = delta.filter((t) => t.tid !== pid && !ENGINE_THREAD.test(t.comm));
    out.cpuSec = { js: sum(js), engine: sum(engine), other: sum(other) };
    workers = engine.map((t, i) => ({ id: Number(ENGINE_THREAD.exec(t.comm)[1] ?? i), cpuSec: t.sec }));
  } else {
    workers = delta.map((t, i) => ({ id: i, cpuSec: t.sec }));
  }
  const byId = new Map(workers.map((w) => [w.id, w]));
  if (stats0?.threads && stats1?.threads) {
    for (const t of stats1.threads) {
      const before = stats0.threads.find((x) => x.id === t.id);
      const w = byId.get(t.id) ?? { id: t.id, cpuSec: undefined };
      if (!byId.has(t.id)) {
        byId.set(t.id, w);
        workers.push(w);
      }
      w.requests = t.requests - (before?.requests ?? 0);
      w.accepted = t.accepted - (before?.accepted ?? 0);
      w.loopTurns = t.loopIterations - (before?.loopIterations ?? 0);
    }
    out.loopTurns = workers.reduce((n, w) => n + (w.loopTurns ?? 0), 0);
    out.logsDropped = (stats1.totals?.logsDropped ?? 0) - (stats0.totals?.logsDropped ?? 0);
  }
  const totalRequests = workers.reduce((n, w) => n + (w.requests ?? 0), 0);
  const totalCpu = workers.reduce((n, w) => n + (w.cpuSec ?? 0), 0);
  for (const w of workers) {
    if (totalRequests > 0) w.requestShare = w.requests / totalRequests;
    if (totalCpu > 0 && w.cpuSec !== undefined) w.cpuShare = w.cpuSec / totalCpu;
  }
  out.by = totalRequests > 0 ? 'requests' : 'cpu';
  out.threads = workers.sort((a, b) => a.id - b.id);
  const shares = workers.map((w) => (out.by === 'requests' ? w.requestShare : w.cpuShare)).filter((x) => Number.isFinite(x));
  if (shares.length) [out.minShare, out.maxShare] = [Math.min(...shares), Math.max(...shares)];
  return out;
}

/**
 * Runs a load tool; returns the tool's parsed output plus CPU/RSS of `pid` (the proxy) and of the
 * backend, and (`kind` epoxy or haproxy) the proxy's per-thread breakdown. /stats is read outside
 * the CPU window, so its own cost is not counted.
 */
async function measured(tool, args, { pid, backendPid, clientCpus, timeoutMs, kind, adminPort }) {
  const alive = (p) => p !== undefined;
  const stats0 = adminPort ? await adminStats(adminPort) : undefined;
  if (alive(pid)) resetPeakRss(pid);
  const tasks0 = alive(pid) ? threadCpuSeconds(pid) : undefined;
  const cpu0 = alive(pid) ? cpuTimes(pid) : undefined;
  // The backend's CPU: its worker processes' (one, unless --backend-workers).
  const backendCpu = () => [backendPid].flat().reduce((n, p) => n + cpuSeconds(p), 0);
  const be0 = backendCpu();
  const [cmd, fullArgs] = wrap(tool, args, clientCpus);
  const r = await runTool(tool, cmd, fullArgs, { timeoutMs });
  const cpu1 = alive(pid) ? cpuTimes(pid) : undefined;
  const tasks1 = alive(pid) ? threadCpuSeconds(pid) : undefined;
  const be1 = backendCpu();
  const stats1 = adminPort ? await adminStats(adminPort) : undefined;
  if (r.code !== 0) {
    // First line: short enough for a table cell; the rest is kept in the raw results.
    const why = lastLine(r.stderr) || lastLine(r.stdout);
    throw new Error(`${tool}: ${why} (exit ${r.code ?? r.signal})\n${tool} ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
  }
  const cpuSec = alive(pid) ? cpu1.user + cpu1.sys - cpu0.user - cpu0.sys : undefined;
  return {
    r,
    cpuSec,
    sysCpuSec: alive(pid) ? cpu1.sys - cpu0.sys : undefined,
    backendCpuSec: be1 - be0,
    peakRssKiB: alive(pid) ? peakRssKiB(pid) : undefined,
    breakdown: alive(pid) && (kind === 'epoxy' || kind === 'haproxy') ? { ...threadBreakdown({ kind, pid, tasks0, tasks1, stats0, stats1, cpuSec }), wallSec: r.secs } : undefined,
  };
}

/** The per-thread metrics of a cell (numbers, summarized over reps like the others). */
function threadMetrics(b, requests) {
  if (!b) return {};
  const perReq = (sec) => (sec === undefined || !requests ? undefined : (sec * 1e6) / requests);
  return {
    jsCpuUsPerReq: perReq(b.cpuSec?.js),
    engineCpuUsPerReq: perReq(b.cpuSec?.engine),
    otherCpuUsPerReq: perReq(b.cpuSec?.other),
    // The JS thread's busy share of the run's wall time: near 100 % it is what limits.
    jsBusyShare: b.cpuSec?.js === undefined || !b.wallSec ? undefined : b.cpuSec.js / b.wallSec,
    minThreadShare: b.minShare,
    maxThreadShare: b.maxShare,
    logsDropped: b.logsDropped,
    // Engine loop turns (epoll wake-ups) per request, over all engine threads: a thread that
    // sees 1/N of the load gathers fewer events per wake-up.
    loopTurnsPerReq: b.loopTurns === undefined || !requests ? undefined : b.loopTurns / requests,
  };
}

/** A wrk run: req/s, latency percentiles, MB/s, CPU per request and per GB. */
export async function wrkCell({ url, connections, seconds, timeout, wrkThreads, headers, script, pid, backendPid, clientCpus, kind, adminPort }) {
  const args = wrkArgs({ connections, seconds, url, timeout, threads: wrkThreads, headers, script });
  const m = await measured('wrk', args, { pid, backendPid, clientCpus, timeoutMs: (seconds + 30) * 1000, kind, adminPort });
  const w = parseWrk(m.r.stdout);
  // wrk counts a failed TLS handshake as no error at all (it just reconnects): a run without a
  // single response is a failure, not 0 req/s.
  if (!w.requests) throw new Error(`wrk completed no request (a connection or TLS handshake that fails is not always counted as an error by wrk)\nwrk ${args.join(' ')}\n${m.r.stdout}`);
  const errors = w.errors.connect + w.errors.read + w.errors.write + w.errors.timeout;
  return {
    command: `wrk ${args.join(' ')}`,
    metrics: {
      requests: w.requests,
      rps: w.rps,
      p50Ms: w.latency.p50Ms,
      p99Ms: w.latency.p99Ms,
      mbps: w.bytesPerSec / 1e6,
      bytes: w.bytes,
      cpuSec: m.cpuSec,
      cpuUsPerReq: m.cpuSec === undefined ? undefined : (m.cpuSec * 1e6) / w.requests,
      sysCpuShare: m.cpuSec ? m.sysCpuSec / m.cpuSec : undefined,
      cpuSecPerGB: m.cpuSec === undefined ? undefined : m.cpuSec / (w.bytes / 1e9),
      peakRssKiB: m.peakRssKiB,
      backendCpuUsPerReq: (m.backendCpuSec * 1e6) / w.requests,
      backendCpuSecPerGB: m.backendCpuSec / (w.bytes / 1e9),
      errors,
      non2xx: w.non2xx,
      ...threadMetrics(m.breakdown, w.requests),
    },
    threads: m.breakdown,
    errors: errors || w.non2xx ? `wrk: ${JSON.stringify(w.errors)} socket errors, ${w.non2xx} non-2xx/3xx` : undefined,
    raw: m.r.stdout,
  };
}

/** An ab run (no keep-alive): req/s, mean time per request, percentiles (whole ms), CPU per request. */
export async function abCell({ url, connections, requests, pid, backendPid, clientCpus, kind, adminPort }) {
  const args = abArgs({ connections, requests, url });
  const m = await measured('ab', args, { pid, backendPid, clientCpus, timeoutMs: 600_000, kind, adminPort });
  const a = parseAb(m.r.stdout);
  return {
    command: `ab ${args.join(' ')}`,
    metrics: {
      requests: a.complete,
      rps: a.rps,
      meanMs: a.meanMs,
      p50Ms: a.percentilesMs['50'],
      p99Ms: a.percentilesMs['99'],
      mbps: a.bytesPerSec / 1e6,
      bytes: a.bytes,
      cpuSec: m.cpuSec,
      cpuUsPerReq: m.cpuSec === undefined ? undefined : (m.cpuSec * 1e6) / a.complete,
      sysCpuShare: m.cpuSec ? m.sysCpuSec / m.cpuSec : undefined,
      cpuSecPerGB: m.cpuSec === undefined ? undefined : m.cpuSec / (a.bytes / 1e9),
      peakRssKiB: m.peakRssKiB,
      backendCpuUsPerReq: (m.backendCpuSec * 1e6) / a.complete,
      backendCpuSecPerGB: m.backendCpuSec / (a.bytes / 1e9),
      errors: a.failed,
      non2xx: a.non2xx,
      ...threadMetrics(m.breakdown, a.complete),
    },
    threads: m.breakdown,
    errors: a.failed || a.non2xx ? `ab: ${a.failed} failed, ${a.non2xx} non-2xx` : undefined,
    raw: m.r.stdout,
  };
}

/**
 * Opens `n` connections to `port`, makes one GET on each (reading the whole response) and leaves
 * them open. At most `parallel` are being set up at once. Resolves { sockets, ok, failed }.
 */
async function openIdleConnections(port, n, path, parallel = 250) {
  const sockets = [];
  let ok = 0;
  let failed = 0;
  const one = () =>
    new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      sockets.push(s);
      let buf = '';
      let done = false;
      const finish = (good) => {
        if (done) return;
        done = true;
        if (good) ok++;
        else failed++;
        s.setTimeout(0);
        resolve();
      };
      s.setEncoding('latin1');
      s.setTimeout(15_000, () => finish(false));
      s.on('connect', () => s.write(`GET ${path} HTTP/1.1\r\nHost: bench\r\n\r\n`));
      s.on('data', (d) => {
        if (done) return;
        buf += d;
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const cl = /content-length:\s*(\d+)/i.exec(buf.slice(0, end));
        if (cl && buf.length >= end + 4 + Number(cl[1])) {
          buf = '';
          finish(true);
        }
      });
      s.on('error', () => finish(false));
      s.on('close', () => finish(false));
    });
  for (let i = 0; i < n; i += parallel) {
    await Promise.all(Array.from({ length: Math.min(parallel, n - i) }, one));
  }
  return { sockets, ok, failed };
}

/**
 * Idle memory: warms the (fresh) proxy up with 100 short connections, then opens `n` connections
 * that each make one request and stay idle; RSS growth of the proxy / n.
 */
export async function idleCell({ port, n, path, pid, settleMs }) {
  const warm = await openIdleConnections(port, 100, path);
  warm.sockets.forEach((s) => s.destroy());
  await sleep(settleMs);
  const rss0 = rssKiB(pid);
  const fds0 = fdCount(pid);
  resetPeakRss(pid);
  const cpu0 = cpuSeconds(pid);
  const idle = await openIdleConnections(port, n, path);
  await sleep(settleMs);
  const rss1 = rssKiB(pid);
  const fds1 = fdCount(pid);
  const cpu1 = cpuSeconds(pid);
  const peak = peakRssKiB(pid);
  idle.sockets.forEach((s) => s.destroy());
  return {
    command: `${n} connections, one GET ${path} each, then idle for ${settleMs} ms`,
    metrics: {
      connections: idle.ok,
      rssBeforeKiB: rss0,
      rssAfterKiB: rss1,
      peakRssKiB: peak,
      bytesPerConn: ((rss1 - rss0) * 1024) / n,
      fdsPerConn: (fds1 - fds0) / n,
      cpuUsPerConn: ((cpu1 - cpu0) * 1e6) / n,
      errors: idle.failed,
    },
    errors: idle.failed ? `${idle.failed} of ${n} connections failed` : undefined,
  };
}
