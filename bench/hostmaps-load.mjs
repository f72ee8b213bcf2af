#!/usr/bin/env node
/**
 * Host-map load bench (issue 16): fills a private redis-server with N hosts in the 'set' format
 * (2 servers each, pipelined), then measures how long HostMapSource.start() takes to load them
 * and how much the process RSS grows per host, plus one full resync that finds nothing new.
 *
 *   node --expose-gc bench/hostmaps-load.mjs [--hosts 100000] [--unique] [--dist]
 *
 * By default the TypeScript sources are loaded through jiti (no build needed); --dist imports
 * dist/hostmaps/index.js instead (after `npm run build:ts`). --unique gives every host its own two
 * addresses; the default draws them from 500 backends, as a real fleet's hosts share servers.
 * redis-server comes from scripts/ensure-tools.sh when missing; it is started on a free port with
 * no persistence and killed by PID at the end.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { Redis } from 'ioredis';
import { pino } from 'pino';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 && args[at + 1] !== undefined ? Number(args[at + 1]) : fallback;
};
const HOSTS = option('--hosts', 100_000);
const BACKENDS = 500;

async function loadModule() {
  if (flag('--dist')) return import(pathToFileURL(path.join(root, 'dist', 'hostmaps', 'index.js')).href);
  const { createJiti } = await import('jiti');
  return createJiti(import.meta.url).import(path.join(root, 'src', 'hostmaps', 'index.ts'));
}

async function freePort() {
  const srv = net.createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

async function startRedis() {
  execFileSync('bash', [path.join(root, 'scripts', 'ensure-tools.sh'), 'redis-server=redis-server'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'epoxy-bench-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}/0`;
  for (let i = 0; !(await answersPing(port)); i++) {
    if (i > 200 || child.exitCode !== null) throw new Error('redis-server did not start');
    await new Promise((r) => setTimeout(r, 25));
  }
  const client = new Redis(url);
  const stop = async () => {
    client.disconnect();
    if (child.exitCode === null) {
      const exited = once(child, 'exit');
      process.kill(child.pid, 'SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return { url, client, stop };
}

function answersPing(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

function backendOf(i) {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:8080`;
}

async function fill(client) {
  const started = Date.now();
  for (let base = 0; base < HOSTS; base += 5000) {
    const p = client.pipeline();
    for (let i = base; i < Math.min(HOSTS, base + 5000); i++) {
      const a = flag('--unique') ? backendOf(2 * i) : backendOf(i % BACKENDS);
      const b = flag('--unique') ? backendOf(2 * i + 1) : backendOf((i * 7 + 1) % BACKENDS);
      p.sadd(`hostnames:site-${i}.example.com:backends`, a, b);
    }
    await p.exec();
  }
  return Date.now() - started;
}

function settle() {
  if (typeof globalThis.gc === 'function') {
    globalThis.gc();
    globalThis.gc();
  }
  return process.memoryUsage();
}

async function main() {
  const { HostMapSource } = await loadModule();
  const redis = await startRedis();
  try {
    const fillMs = await fill(redis.client);
    const source = new HostMapSource({
      redis: { url: redis.url, channel: 'epoxy:changes', resyncMs: 3_600_000 },
      hostMaps: [{ name: 'sites', key: 'hostnames:{host}:backends', format: 'set' }],
      logger: pino({ level: 'warn' }),
    });
    const before = settle();
    const t0 = performance.now();
    await source.start();
    const loadMs = performance.now() - t0;
    const after = settle();
    const t1 = performance.now();
    await source.resync();
    const resyncMs = performance.now() - t1;
    const hosts = source.state('sites').hosts;
    await source.stop();
    const perHost = (bytes) => (bytes / hosts).toFixed(0);
    console.log(JSON.stringify({
      hosts,
      serversPerHost: 2,
      addresses: flag('--unique') ? 'unique per host' : `${BACKENDS} shared backends`,
      fillMs,
      loadMs: Math.round(loadMs),
      resyncNoChangeMs: Math.round(resyncMs),
      rssGrowthBytesPerHost: Number(perHost(after.rss - before.rss)),
      heapGrowthBytesPerHost: Number(perHost(after.heapUsed - before.heapUsed)),
      gc: typeof globalThis.gc === 'function' ? 'forced before each reading' : 'not forced (run with --expose-gc)',
      node: process.version,
    }, null, 2));
    if (hosts !== HOSTS) throw new Error(`loaded ${hosts} hosts, expected ${HOSTS}`);
  } finally {
    await redis.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
