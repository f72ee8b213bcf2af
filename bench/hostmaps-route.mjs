#!/usr/bin/env node
/**
 * Host-map routing bench (issue 16), two parts:
 *
 * 1. Cost of the lookup: HTTP 1 KiB keep-alive through `epoxy run` with a `{ hostMap }` route
 *    over 100,000 hosts in Redis, against a static `*.bench.example` host route to the same
 *    nginx; wrk spreads the requests over 1,000 of the hosts (bench/lib/wrk-hosts.lua, the same
 *    script for both). Cells alternate (static, map, static, map, …) so that drift on a shared
 *    machine hits both. Goals: req/s ≥ 0.95× and CPU µs/request ≤ 1.05× of the static route.
 * 2. Convergence: two epoxy instances on one redis-server; 200 times, a writer adds a host's
 *    backend and PUBLISHes; the time until the second instance answers from that backend
 *    (polled with back-to-back keep-alive requests), p50 and p99.
 *
 *   node bench/hostmaps-route.mjs [--hosts 100000] [--seconds 10] [--reps 3] [--connections 50] [--changes 200] [--no-build]
 *
 * Tools (nginx, wrk, redis-server) come from scripts/ensure-tools.sh; every process is started on
 * a free port and stopped by PID.
 */
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Redis } from 'ioredis';

import { startBackend } from './lib/backend.mjs';
import { wrkCell } from './lib/cells.mjs';
import { cpuSeconds, rssKiB } from './lib/measure.mjs';
import { freePort, installCleanup, rememberTempDir, startProcess, stopAll, stopProcess, waitForPort } from './lib/procs.mjs';
import { ROOT, ensureEpoxyBuilt, ensureTools } from './lib/tools.mjs';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 && args[at + 1] !== undefined ? Number(args[at + 1]) : fallback;
};
const HOSTS = option('--hosts', 100_000);
const SECONDS = option('--seconds', 10);
const REPS = option('--reps', 3);
const CONNECTIONS = option('--connections', 50);
const CHANGES = option('--changes', 200);
const THREADS = option('--threads', 1);
const SPREAD = 1000;

installCleanup();
ensureTools(['nginx=nginx', 'wrk=wrk', 'redis-server=redis-server']);
ensureEpoxyBuilt(args.includes('--no-build') ? 'never' : 'auto');

const tmp = mkdtempSync(join(tmpdir(), 'epoxy-bench-hostmaps-'));
rememberTempDir(tmp);

async function startRedis() {
  const port = await freePort();
  const dir = join(tmp, `redis-${port}`);
  mkdirSync(dir);
  const proc = startProcess('redis', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { cwd: dir, keepOutput: false });
  await waitForPort(port, { proc });
  return { port, url: `redis://127.0.0.1:${port}/0`, proc };
}

/** 100,000 hosts h<i>.bench.example → the backend, pipelined in batches. */
async function fillHosts(redis, address) {
  const started = Date.now();
  const batch = 5000;
  for (let i = 0; i < HOSTS; i += batch) {
    const p = redis.pipeline();
    for (let j = i; j < Math.min(HOSTS, i + batch); j++) p.sadd(`hostnames:h${j}.bench.example:backends`, address);
    await p.exec();
  }
  return Date.now() - started;
}

function writeConfig(name, body) {
  const file = join(tmp, `${name}.config.mjs`);
  writeFileSync(file, `export default ${JSON.stringify(body, null, 2)};\n`);
  return file;
}

function staticConfig(port, backend) {
  return writeConfig(`static-${port}`, {
    listeners: [{ name: 'web', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ host: '*.bench.example', pool: 'web' }] }],
    pools: { web: { servers: [backend] } },
    engine: { threads: THREADS },
  });
}

// The cost cells measure the request path: the periodic full resync (a SCAN and a read of every
// key, ~1 s of the JS thread at 100,000 hosts) is moved out of their windows and measured on
// its own (resyncCost).
function mapConfig(port, backend, redisUrl, adminPort, resyncMs = 600_000) {
  return writeConfig(`map-${port}`, {
    redis: { url: redisUrl, resyncMs },
    hostMaps: { sites: { key: 'hostnames:{host}:backends' } },
    listeners: [{ name: 'web', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ hostMap: 'sites' }, { pool: 'web' }] }],
    pools: { web: { servers: [backend] } },
    engine: { threads: THREADS },
    ...(adminPort ? { admin: { bind: `127.0.0.1:${adminPort}` } } : {}),
  });
}

async function startEpoxy(name, file, port) {
  const proc = startProcess(name, process.execPath, [join(ROOT, 'dist/cli/main.js'), 'run', '--no-watch', file], {
    env: { EPOXY_LOG_LEVEL: 'warn' }, cwd: ROOT, keepOutput: false,
  });
  await waitForPort(port, { proc, timeoutMs: 60_000 });
  return proc;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

async function lookupCost(backend, redis) {
  const [staticPort, mapPort] = [await freePort(), await freePort()];
  const staticProc = await startEpoxy('epoxy-static', staticConfig(staticPort, `127.0.0.1:${backend.port}`), staticPort);
  const loadStarted = Date.now();
  const mapProc = await startEpoxy('epoxy-map', mapConfig(mapPort, `127.0.0.1:${backend.port}`, redis.url), mapPort);
  const startMs = Date.now() - loadStarted;
  // The whole process (JS copy, engine maps on every thread, ioredis): the map's RSS over the
  // static config's, per host, once both have settled.
  await new Promise((r) => setTimeout(r, 2000));
  const rssPerHostB = ((rssKiB(mapProc.pid) - rssKiB(staticProc.pid)) * 1024) / HOSTS;
  process.env.BENCH_HOSTS = String(SPREAD);
  process.env.BENCH_HOST_STRIDE = String(Math.max(1, Math.floor(HOSTS / SPREAD)));
  const cells = { static: [], map: [] };
  const script = join(ROOT, 'bench/lib/wrk-hosts.lua');
  for (let rep = 0; rep < REPS; rep++) {
    for (const [kind, port, proc] of [['static', staticPort, staticProc], ['map', mapPort, mapProc]]) {
      const cell = await wrkCell({
        url: `http://127.0.0.1:${port}/1k`, connections: CONNECTIONS, seconds: SECONDS, script,
        pid: proc.pid, backendPid: backend.workerPids ?? backend.workerPid,
      });
      if (cell.metrics.non2xx || cell.metrics.errors) throw new Error(`${kind}: ${cell.errors}`);
      cells[kind].push(cell.metrics);
      console.error(`  ${kind} rep ${rep + 1}: ${cell.metrics.rps.toFixed(0)} req/s, ${cell.metrics.cpuUsPerReq.toFixed(2)} µs CPU/req`);
    }
  }
  await stopProcess(staticProc);
  await stopProcess(mapProc);
  const summary = (list) => ({ rps: median(list.map((m) => m.rps)), cpuUsPerReq: median(list.map((m) => m.cpuUsPerReq)), p99Ms: median(list.map((m) => m.p99Ms)) });
  return { startMs, rssPerHostB, static: summary(cells.static), map: summary(cells.map), cells };
}

/** A backend that names itself, for telling which server answered. */
async function namedServer(name) {
  const server = http.createServer((_req, res) => {
    res.setHeader('x-backend', name);
    res.end(name);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, address: `127.0.0.1:${server.address().port}` };
}

function ask(port, host, agent) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/', headers: { host }, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.headers['x-backend'] ?? ''));
    });
    req.on('error', reject);
    req.end();
  });
}

async function convergence(backend, redis) {
  const fresh = await namedServer('NEW');
  const ports = [await freePort(), await freePort()];
  const procs = [];
  for (const port of ports) procs.push(await startEpoxy(`epoxy-fleet-${port}`, mapConfig(port, `127.0.0.1:${backend.port}`, redis.url), port));
  const writer = new Redis(redis.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const times = [];
  for (let i = 0; i < CHANGES; i++) {
    const host = `c${i}.converge.example`;
    const started = process.hrtime.bigint();
    await writer.multi().sadd(`hostnames:${host}:backends`, fresh.address).publish('epoxy:changes', host).exec();
    for (;;) {
      if ((await ask(ports[1], host, agent)) === 'NEW') break;
      if (Number(process.hrtime.bigint() - started) / 1e6 > 5000) throw new Error(`${host}: not routed to the new backend within 5 s`);
    }
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  agent.destroy();
  writer.disconnect();
  for (const p of procs) await stopProcess(p);
  fresh.server.close();
  return { changes: CHANGES, p50Ms: pct(times, 50), p99Ms: pct(times, 99), maxMs: Math.max(...times) };
}

/** CPU of one full resync that finds nothing new: an instance with resyncMs 5 s, idle, over 3 resyncs, minus an idle static instance. */
async function resyncCost(backend, redis) {
  const [mapPort, staticPort] = [await freePort(), await freePort()];
  const mapProc = await startEpoxy('epoxy-resync', mapConfig(mapPort, backend, redis.url, undefined, 5000), mapPort);
  const staticProc = await startEpoxy('epoxy-idle', staticConfig(staticPort, backend), staticPort);
  await new Promise((r) => setTimeout(r, 2000));
  const [m0, s0] = [cpuSeconds(mapProc.pid), cpuSeconds(staticProc.pid)];
  await new Promise((r) => setTimeout(r, 15_000));
  const [m1, s1] = [cpuSeconds(mapProc.pid), cpuSeconds(staticProc.pid)];
  const rssPerHostB = ((rssKiB(mapProc.pid) - rssKiB(staticProc.pid)) * 1024) / HOSTS;
  await stopProcess(mapProc);
  await stopProcess(staticProc);
  return { cpuSecPerResync: (m1 - m0 - (s1 - s0)) / 3, rssPerHostAfterResyncsB: rssPerHostB };
}

async function main() {
  const backend = await startBackend(tmp);
  const redis = await startRedis();
  const writer = new Redis(redis.url);
  console.error(`filling ${HOSTS} hosts…`);
  const fillMs = await fillHosts(writer, `127.0.0.1:${backend.port}`);
  writer.disconnect();
  console.error(`lookup cost: ${REPS} × (static, map), ${SECONDS} s each, wrk -c${CONNECTIONS} over ${SPREAD} hosts`);
  const cost = await lookupCost(backend, redis);
  console.error(`convergence: ${CHANGES} changes`);
  const conv = await convergence(backend, redis);
  console.error('resync cost: 15 s idle with resyncMs 5000');
  const resync = await resyncCost(`127.0.0.1:${backend.port}`, redis);
  const ratios = { rps: cost.map.rps / cost.static.rps, cpuUsPerReq: cost.map.cpuUsPerReq / cost.static.cpuUsPerReq };
  const result = {
    hosts: HOSTS, threads: THREADS, spread: SPREAD, seconds: SECONDS, reps: REPS, connections: CONNECTIONS, fillMs,
    startWithMapMs: cost.startMs, rssPerHostB: cost.rssPerHostB,
    static: cost.static, map: cost.map, ratios,
    goals: { rps: ratios.rps >= 0.95 ? 'met' : 'not met', cpu: ratios.cpuUsPerReq <= 1.05 ? 'met' : 'not met' },
    convergence: conv,
    resync,
  };
  const lines = [
    `| route | req/s | CPU µs/req | p99 ms |`,
    `|---|---|---|---|`,
    `| static *.bench.example | ${cost.static.rps.toFixed(0)} | ${cost.static.cpuUsPerReq.toFixed(2)} | ${cost.static.p99Ms.toFixed(2)} |`,
    `| hostMap (${HOSTS} hosts) | ${cost.map.rps.toFixed(0)} | ${cost.map.cpuUsPerReq.toFixed(2)} | ${cost.map.p99Ms.toFixed(2)} |`,
    `| ratio map/static | ${ratios.rps.toFixed(3)} (goal ≥ 0.95: ${result.goals.rps}) | ${ratios.cpuUsPerReq.toFixed(3)} (goal ≤ 1.05: ${result.goals.cpu}) | |`,
    '',
    `Convergence over ${conv.changes} changes (PUBLISH → the second instance answers from the new backend): p50 ${conv.p50Ms.toFixed(2)} ms, p99 ${conv.p99Ms.toFixed(2)} ms, max ${conv.maxMs.toFixed(2)} ms.`,
    `Start with ${HOSTS} hosts in Redis (epoxy run until its port answers): ${cost.startMs} ms; RSS over the static config's: ${cost.rssPerHostB.toFixed(0)} B per host 2 s after start, ${resync.rssPerHostAfterResyncsB.toFixed(0)} B after 3 resyncs (engine.threads ${THREADS}).`,
    `One full resync that finds nothing new: ${resync.cpuSecPerResync.toFixed(2)} CPU s (every redis.resyncMs, 30 s by default: ${((resync.cpuSecPerResync / 30) * 100).toFixed(1)} % of a core).`,
  ];
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace(/-\d+Z$/, 'Z');
  const dir = join(ROOT, 'bench/results', `${stamp}-hostmaps-route`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'results.json'), `${JSON.stringify({ ...result, cells: cost.cells }, null, 2)}\n`);
  writeFileSync(join(dir, 'results.md'), `${lines.join('\n')}\n`);
  console.log(lines.join('\n'));
  await stopProcess(redis.proc);
  await backend.stop();
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => stopAll());
