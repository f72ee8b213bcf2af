// One measurement ("cell" repetition): a load tool run against one contender, with the
// contender's CPU time (utime+stime of its process, all threads) and peak RSS around it.
import net from 'node:net';
import { join } from 'node:path';
import { cpuSeconds, fdCount, peakRssKiB, resetPeakRss, rssKiB } from './measure.mjs';
import { parseAb, parseWrk } from './parse.mjs';
import { lastLine, runTool, sleep } from './procs.mjs';
import { ROOT } from './tools.mjs';

const WRK_SCRIPT = join(ROOT, 'bench/lib/wrk-done.lua');

function wrap(cmd, args, cpus) {
  return cpus ? ['taskset', ['-c', cpus, cmd, ...args]] : [cmd, args];
}

export function wrkArgs({ connections, seconds, url, timeout = '10s' }) {
  return ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '--timeout', timeout, '-s', WRK_SCRIPT, url];
}

export function abArgs({ connections, requests, url }) {
  // -r: keep going on receive errors (they are counted and flagged instead); -q: no progress lines;
  // -s 5: a connection the proxy never finishes fails the run after 5 s instead of ab's 30.
  return ['-q', '-r', '-s', '5', '-n', String(requests), '-c', String(connections), url];
}

/** Runs a load tool; returns the tool's parsed output plus CPU/RSS of `pid` (the proxy) and of the backend. */
async function measured(tool, args, { pid, backendPid, clientCpus, timeoutMs }) {
  const alive = (p) => p !== undefined;
  if (alive(pid)) resetPeakRss(pid);
  const cpu0 = alive(pid) ? cpuSeconds(pid) : undefined;
  const be0 = cpuSeconds(backendPid);
  const [cmd, fullArgs] = wrap(tool, args, clientCpus);
  const r = await runTool(tool, cmd, fullArgs, { timeoutMs });
  const cpu1 = alive(pid) ? cpuSeconds(pid) : undefined;
  const be1 = cpuSeconds(backendPid);
  if (r.code !== 0) {
    // First line: short enough for a table cell; the rest is kept in the raw results.
    const why = lastLine(r.stderr) || lastLine(r.stdout);
    throw new Error(`${tool}: ${why} (exit ${r.code ?? r.signal})\n${tool} ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
  }
  return {
    r,
    cpuSec: alive(pid) ? cpu1 - cpu0 : undefined,
    backendCpuSec: be1 - be0,
    peakRssKiB: alive(pid) ? peakRssKiB(pid) : undefined,
  };
}

/** A wrk run: req/s, latency percentiles, MB/s, CPU per request and per GB. */
export async function wrkCell({ url, connections, seconds, timeout, pid, backendPid, clientCpus }) {
  const args = wrkArgs({ connections, seconds, url, timeout });
  const m = await measured('wrk', args, { pid, backendPid, clientCpus, timeoutMs: (seconds + 30) * 1000 });
  const w = parseWrk(m.r.stdout);
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
      cpuSecPerGB: m.cpuSec === undefined ? undefined : m.cpuSec / (w.bytes / 1e9),
      peakRssKiB: m.peakRssKiB,
      backendCpuUsPerReq: (m.backendCpuSec * 1e6) / w.requests,
      backendCpuSecPerGB: m.backendCpuSec / (w.bytes / 1e9),
      errors,
      non2xx: w.non2xx,
    },
    errors: errors || w.non2xx ? `wrk: ${JSON.stringify(w.errors)} socket errors, ${w.non2xx} non-2xx/3xx` : undefined,
    raw: m.r.stdout,
  };
}

/** An ab run (no keep-alive): req/s, mean time per request, percentiles (whole ms), CPU per request. */
export async function abCell({ url, connections, requests, pid, backendPid, clientCpus }) {
  const args = abArgs({ connections, requests, url });
  const m = await measured('ab', args, { pid, backendPid, clientCpus, timeoutMs: 600_000 });
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
      cpuSecPerGB: m.cpuSec === undefined ? undefined : m.cpuSec / (a.bytes / 1e9),
      peakRssKiB: m.peakRssKiB,
      backendCpuUsPerReq: (m.backendCpuSec * 1e6) / a.complete,
      backendCpuSecPerGB: m.backendCpuSec / (a.bytes / 1e9),
      errors: a.failed,
      non2xx: a.non2xx,
    },
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
