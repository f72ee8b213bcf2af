/**
 * The admin server, end to end on real sockets: a real Proxy with real backends, /stats and
 * /metrics against a known traffic mix, the runtime API changing what the backends see, auth,
 * the errors a bad request gets, reload through the API (and through `epoxy run`), and that
 * stop() leaves nothing behind.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';

import { percentile, summarize } from '../src/admin/latency.js';
import { ConfigError, Proxy, loadConfigFile, type EpoxyConfig, type ProxyOptions } from '../src/index.js';
import { connect, echoBackend, logger, readBytes, runNode, sleep, type Backend } from './helpers.js';
import { httpBackend, rawExchange, request, type HttpBackend } from './http-helpers.js';

const TOKEN = 'test-token-0123456789abcdef';
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function started(config: EpoxyConfig, options: ProxyOptions = {}): Promise<Proxy> {
  const proxy = await Proxy.start(config, { logger, ...options });
  cleanups.push(() => proxy.stop({ graceMs: 200 }));
  return proxy;
}

async function backend(name: string, handler?: Parameters<typeof httpBackend>[1]): Promise<HttpBackend> {
  const b = await httpBackend(name, handler);
  cleanups.push(() => b.close());
  return b;
}

async function echo(): Promise<Backend> {
  const b = await echoBackend();
  cleanups.push(() => b.close());
  return b;
}

interface AdminReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

/** One admin call on its own connection; `body` is sent as JSON, `raw` as is. */
function call(
  port: number,
  method: string,
  path: string,
  options: { body?: unknown; raw?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<AdminReply> {
  const body = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  const headers = { ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers };
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: unknown;
        if (/json/.test(res.headers['content-type'] ?? '') && text !== '') json = JSON.parse(text);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** `n` distinct free ports: each is held until all are taken, so two calls cannot get the same one. */
async function freePorts(n: 2 | 3): Promise<[number, number, number]> {
  const servers = await Promise.all(
    Array.from({ length: n }, async () => {
      const srv = net.createServer().listen(0, '127.0.0.1');
      await once(srv, 'listening');
      return srv;
    }),
  );
  const ports = servers.map((srv) => (srv.address() as net.AddressInfo).port);
  await Promise.all(servers.map((srv) => new Promise((r) => srv.close(r))));
  // Destructure only as many as were asked for.
  return ports as [number, number, number];
}

const auth = { authorization: `Bearer ${TOKEN}` };
const enc = encodeURIComponent;

/** Waits until no session is in flight, so the counters of finished traffic are final. */
async function settled(proxy: Proxy): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const s = await proxy.stats();
    if (s.listeners.every((l) => l.active === 0) && s.pools.every((p) => p.active === 0)) return;
    await sleep(10);
  }
  throw new Error('sessions still in flight');
}

// ---- a small parser of the Prometheus text format ----

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  types: Map<string, string>;
  help: Map<string, string>;
  samples: Sample[];
  /** The value of the sample with exactly these labels; throws if there is none. */
  value(name: string, labels?: Record<string, string>): number;
}

function parseMetrics(text: string): Exposition {
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      (meta[1] === 'TYPE' ? types : help).set(meta[2]!, meta[3]!);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/gy;
    let at = 0;
    for (let lm = re.exec(body); lm; lm = re.exec(body)) {
      labels[lm[1]!] = lm[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      at = re.lastIndex;
    }
    if (at !== body.length) throw new Error(`bad labels in ${JSON.stringify(line)}`);
    const raw = m[3]!;
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    if (Number.isNaN(value)) throw new Error(`bad value in ${JSON.stringify(line)}`);
    samples.push({ name: m[1]!, labels, value });
  }
  const same = (a: Record<string, string>, b: Record<string, string>) =>
    Object.keys(a).length === Object.keys(b).length && Object.entries(b).every(([k, v]) => a[k] === v);
  return {
    types,
    help,
    samples,
    value(name, labels = {}) {
      const found = samples.find((s) => s.name === name && same(s.labels, labels));
      if (!found) throw new Error(`no sample ${name}${JSON.stringify(labels)}`);
      return found.value;
    },
  };
}

async function scrape(port: number): Promise<Exposition> {
  const r = await call(port, 'GET', '/metrics');
  expect(r.status).toBe(200);
  expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseMetrics(r.text);
}

// ---- a proxy with two HTTP pools and a TCP pool, for the traffic mix ----

async function trafficSetup(admin: EpoxyConfig['admin'] = undefined, engine: EpoxyConfig['engine'] = undefined) {
  // ?status=N answers N; anything else 200.
  const answer = (name: string) => (req: http.IncomingMessage, res: http.ServerResponse) => {
    const status = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('status') ?? 200);
    res.statusCode = status;
    res.end(`${name} ${status}\n`);
  };
  const a = await backend('A', answer('A'));
  const b = await backend('B', answer('B'));
  const e = await echo();
  const [web, tcp, adminPort] = await freePorts(3);
  const config: EpoxyConfig = {
    listeners: [
      { name: 'web', bind: `127.0.0.1:${web}`, mode: 'http', routes: [{ path: '/a', pool: 'pa' }, { path: '/b', pool: 'pb' }] },
      { name: 'tcp', bind: `127.0.0.1:${tcp}`, mode: 'tcp', pool: 'echo' },
    ],
    pools: {
      pa: { servers: [a.address], passive: false },
      pb: { servers: [b.address], passive: false },
      echo: { servers: [e.address] },
    },
    admin: admin ?? { bind: `127.0.0.1:${adminPort}` },
    ...(engine ? { engine } : {}),
  };
  const proxy = await started(config);
  const port = Number(config.admin!.bind.split(':').pop());
  return { proxy, a, b, e, web, tcp, port, config };
}

/** 7 requests to A (5×200, 404, 500), 3 to B (200), 1 no route matches (404 from the proxy); 2 TCP sessions of 3000 bytes each. */
async function sendMix(web: number, tcp: number): Promise<void> {
  const paths = ['/a/1', '/a/2', '/a/3', '/a/4', '/a/5', '/a/x?status=404', '/a/y?status=500', '/b/1', '/b/2', '/b/3', '/nowhere'];
  for (const path of paths) await request(web, { path });
  for (let i = 0; i < 2; i++) {
    const c = await connect(tcp);
    const got = readBytes(c, 3000);
    c.write(Buffer.alloc(3000, i));
    expect((await got).length).toBe(3000);
    c.end();
    await once(c, 'close');
  }
}

describe('GET /stats and GET /metrics', () => {
  it('count a known traffic mix exactly', async () => {
    const { proxy, a, b, e, web, tcp, port } = await trafficSetup();
    await sendMix(web, tcp);
    await settled(proxy);

    const r = await call(port, 'GET', '/stats');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
    const s = r.json;
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(s.version).toBe(pkg.version);
    expect(s.uptimeMs).toBeGreaterThanOrEqual(0);
    expect(Object.keys(s)).toEqual(['version', 'uptimeMs', 'listeners', 'pools', 'totals', 'threads', 'hostMaps', 'redisPools']);

    const [lw, lt] = s.listeners;
    expect(lw).toMatchObject({ name: 'web', mode: 'http', state: 'open', sessions: { current: 0, total: 11 }, requests: { total: 11 } });
    expect(lw.responses).toEqual({ none: 0, '1xx': 0, '2xx': 8, '3xx': 0, '4xx': 2, '5xx': 1 });
    expect(lw.bytes.in).toBeGreaterThan(0);
    expect(lw.bytes.out).toBeGreaterThan(0);
    expect(lw.latency.count).toBe(11);
    expect(lw.latency.p50Ms).toBeGreaterThanOrEqual(0);
    expect(lw.latency.p50Ms).toBeLessThanOrEqual(lw.latency.p90Ms);
    expect(lw.latency.p90Ms).toBeLessThanOrEqual(lw.latency.p99Ms);
    expect(lt).toMatchObject({ name: 'tcp', mode: 'tcp', sessions: { current: 0, total: 2 }, requests: { total: 0 } });
    expect(lt.bytes).toMatchObject({ in: 6000, out: 6000 });
    expect(lt.bytes.spliced + lt.bytes.copied).toBe(12000);

    const pool = (name: string) => s.pools.find((p: { name: string }) => p.name === name);
    const [sa] = pool('pa').servers;
    const [sb] = pool('pb').servers;
    const [se] = pool('echo').servers;
    expect(sa).toMatchObject({ address: a.address, state: 'up', requests: { total: 7 }, responses: { '5xx': 1 }, connectFailures: 0, resets: 0 });
    expect(sa.latency.count).toBe(7);
    expect(sa.latency.p99Ms).not.toBeNull();
    expect(sa.health).toEqual({ check: null, passive: { ejected: false, ejections: 0 } });
    expect(sb).toMatchObject({ address: b.address, state: 'up', requests: { total: 3 }, responses: { '5xx': 0 } });
    expect(se).toMatchObject({ address: e.address, sessions: { current: 0, total: 2 }, bytes: { in: 6000, out: 6000 } });
    expect(pool('pa')).toMatchObject({ state: 'up', requests: { total: 7 }, queue: { length: 0, total: 0, timeouts: 0, full: 0 } });
    expect(a.seen).toHaveLength(7);
    expect(b.seen).toHaveLength(3);
    expect(s.totals).toMatchObject({ sessions: { current: 0, total: 13 }, requests: { total: 11 } });
    expect(s.totals.responses).toEqual(lw.responses);

    const m = await scrape(port);
    const A = { pool: 'pa', server: a.address };
    const B = { pool: 'pb', server: b.address };
    const E = { pool: 'echo', server: e.address };
    expect(m.value('epoxy_listener_requests_total', { listener: 'web' })).toBe(11);
    expect(m.value('epoxy_listener_connections_total', { listener: 'web' })).toBe(11);
    expect(m.value('epoxy_listener_connections_total', { listener: 'tcp' })).toBe(2);
    expect(m.value('epoxy_listener_active_connections', { listener: 'web' })).toBe(0);
    const classes = { none: 0, '1xx': 0, '2xx': 8, '3xx': 0, '4xx': 2, '5xx': 1 };
    for (const [c, n] of Object.entries(classes)) expect(m.value('epoxy_listener_responses_total', { listener: 'web', class: c }), c).toBe(n);
    expect(m.value('epoxy_listener_bytes_total', { listener: 'tcp', direction: 'in' })).toBe(6000);
    expect(m.value('epoxy_listener_bytes_total', { listener: 'web', direction: 'out' })).toBe(lw.bytes.out);
    expect(m.value('epoxy_server_requests_total', A)).toBe(7);
    expect(m.value('epoxy_server_requests_total', B)).toBe(3);
    expect(m.value('epoxy_server_responses_5xx_total', A)).toBe(1);
    expect(m.value('epoxy_server_sessions_total', E)).toBe(2);
    expect(m.value('epoxy_server_bytes_total', { ...E, direction: 'out' })).toBe(6000);
    expect(m.value('epoxy_server_up', A)).toBe(1);
    for (const state of ['up', 'drain', 'maint', 'down', 'ejected']) expect(m.value('epoxy_server_state', { ...A, state })).toBe(state === 'up' ? 1 : 0);
    expect(m.value('epoxy_server_connect_failures_total', A)).toBe(0);
    expect(m.value('epoxy_pool_queue_length', { pool: 'pa' })).toBe(0);
    expect(m.value('epoxy_engine_bytes_total', { method: 'splice' }) + m.value('epoxy_engine_bytes_total', { method: 'copy' })).toBe(
      s.totals.bytes.spliced + s.totals.bytes.copied,
    );
    expect(m.value('epoxy_engine_logs_dropped_total')).toBe(0);

    // Histograms: cumulative buckets in seconds, +Inf, _count = requests, _sum in seconds.
    expect(m.types.get('epoxy_server_response_seconds')).toBe('histogram');
    expect(m.types.get('epoxy_server_requests_total')).toBe('counter');
    expect(m.types.get('epoxy_server_up')).toBe('gauge');
    for (const [name, labels, count] of [
      ['epoxy_server_response_seconds', A, 7],
      ['epoxy_server_response_seconds', B, 3],
      ['epoxy_listener_request_seconds', { listener: 'web' }, 11],
    ] as const) {
      expect(m.value(`${name}_count`, labels)).toBe(count);
      expect(m.value(`${name}_bucket`, { ...labels, le: '+Inf' })).toBe(count);
      expect(m.value(`${name}_sum`, labels)).toBeGreaterThanOrEqual(0);
      const buckets = m.samples.filter((x) => x.name === `${name}_bucket` && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
      expect(buckets.map((x) => x.labels['le'])).toEqual(['0.001', '0.002', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf']);
      for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
    }

    // Counters follow the engine exactly from scrape to scrape.
    await request(web, { path: '/a/again' });
    await request(web, { path: '/a/again' });
    await settled(proxy);
    const m2 = await scrape(port);
    expect(m2.value('epoxy_server_requests_total', A)).toBe(9);
    expect(m2.value('epoxy_server_response_seconds_count', A)).toBe(9);
    expect(m2.value('epoxy_listener_requests_total', { listener: 'web' })).toBe(13);
    expect(m2.value('epoxy_listener_responses_total', { listener: 'web', class: '2xx' })).toBe(10);
  });

  it('report each engine thread: /stats threads and the epoxy_thread_* metrics', async () => {
    const { proxy, web, tcp, port } = await trafficSetup(undefined, { threads: 2 });
    await sendMix(web, tcp);
    // 20 more, each on a new connection: the kernel spreads them over the threads' SO_REUSEPORT
    // sockets by the connection's ports.
    for (let i = 0; i < 20; i++) expect((await request(web, { path: `/a/more/${i}` })).status).toBe(200);
    await settled(proxy);

    const s = (await call(port, 'GET', '/stats')).json as {
      totals: { sessions: { total: number }; requests: { total: number }; loop: { turns: number } };
      threads: Array<{ id: number; accepted: number; sessions: number; requests: number; loopIterations: number; cpuMs: number }>;
    };
    expect(s.threads.map((t) => t.id)).toEqual([0, 1]);
    const sum = (f: (t: (typeof s.threads)[number]) => number) => s.threads.reduce((n, t) => n + f(t), 0);
    expect(s.totals.sessions.total).toBe(33);
    expect(sum((t) => t.accepted)).toBe(s.totals.sessions.total);
    expect(sum((t) => t.requests)).toBe(s.totals.requests.total);
    expect(sum((t) => t.loopIterations)).toBe(s.totals.loop.turns);
    for (const t of s.threads) {
      expect(Object.keys(t).sort(), `thread ${t.id}`).toEqual(['accepted', 'cpuMs', 'id', 'loopIterations', 'requests', 'sessions']);
      expect(t.sessions, `thread ${t.id}`).toBe(0);
      expect(t.loopIterations, `thread ${t.id}`).toBeGreaterThan(0);
      expect(t.cpuMs, `thread ${t.id}`).toBeGreaterThanOrEqual(0);
    }

    const m = await scrape(port);
    const names = { epoxy_thread_cpu_seconds_total: 'counter', epoxy_thread_sessions: 'gauge', epoxy_thread_accepted_total: 'counter' };
    for (const [name, type] of Object.entries(names)) {
      expect(m.types.get(name), name).toBe(type);
      expect(m.samples.filter((x) => x.name === name).map((x) => x.labels), name).toEqual([{ thread: '0' }, { thread: '1' }]);
    }
    for (const t of s.threads) {
      const labels = { thread: String(t.id) };
      expect(m.value('epoxy_thread_accepted_total', labels)).toBe(t.accepted);
      expect(m.value('epoxy_thread_sessions', labels)).toBe(0);
      // Read after /stats: at least as much CPU time, in seconds.
      expect(m.value('epoxy_thread_cpu_seconds_total', labels)).toBeGreaterThanOrEqual(t.cpuMs / 1000);
    }
    expect(m.value('epoxy_thread_accepted_total', { thread: '0' }) + m.value('epoxy_thread_accepted_total', { thread: '1' })).toBe(33);
  });

  it('exposes exactly the metrics docs/metrics.md lists, each with help and the documented type', async () => {
    const { port, web, tcp } = await trafficSetup();
    await sendMix(web, tcp);
    const m = await scrape(port);
    const doc = readFileSync(new URL('../docs/metrics.md', import.meta.url), 'utf8');
    const documented = new Map([...doc.matchAll(/^\| `(epoxy_[a-z0-9_]+)` \| (counter|gauge|histogram) \|/gm)].map((x) => [x[1]!, x[2]!]));
    expect(documented.size).toBeGreaterThan(20);
    expect([...m.types.keys()].sort()).toEqual([...documented.keys()].sort());
    for (const [name, type] of documented) {
      expect(m.types.get(name), name).toBe(type);
      expect(m.help.get(name), name).toBeTruthy();
    }
  });

  it('reports active health checks per server', async () => {
    const a = await backend('A');
    const [web, adminPort, deadPort] = await freePorts(3);
    const dead = `127.0.0.1:${deadPort}`;
    await started({
      listeners: [{ name: 'web', bind: `127.0.0.1:${web}`, mode: 'http', routes: [{ pool: 'p' }] }],
      pools: { p: { servers: [a.address, dead], health: { path: '/healthz', intervalMs: 100, timeoutMs: 100, rise: 1, fall: 1 } } },
      admin: { bind: `127.0.0.1:${adminPort}` },
    });
    let servers: Array<{ address: string; state: string; health: { check: { up: boolean; lastCheck: { ok: boolean; reason: string; at: string } | null } } }> = [];
    for (let i = 0; i < 100; i++) {
      servers = (await call(adminPort, 'GET', '/stats')).json.pools[0].servers;
      if (servers.every((s) => s.health.check.lastCheck !== null) && servers[1]!.state === 'down') break;
      await sleep(20);
    }
    const [up, down] = servers;
    expect(up).toMatchObject({ state: 'up', health: { check: { up: true, lastCheck: { ok: true, reason: 'status 200' } } } });
    expect(down).toMatchObject({ address: dead, state: 'down', health: { check: { up: false, lastCheck: { ok: false } } } });
    expect(down!.health.check.lastCheck!.reason).toMatch(/ECONNREFUSED/);
    expect(Date.parse(down!.health.check.lastCheck!.at)).toBeGreaterThan(Date.now() - 10_000);
    const m = await scrape(adminPort);
    expect(m.value('epoxy_server_up', { pool: 'p', server: dead })).toBe(0);
    expect(m.value('epoxy_server_state', { pool: 'p', server: dead, state: 'down' })).toBe(1);
  });

  it('serves the dashboard at /: one document, linking /stats and /metrics, that may load nothing else', async () => {
    const { port } = await trafficSetup();
    const r = await call(port, 'GET', '/');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(r.text).toContain('href="./stats"');
    expect(r.text).toContain('href="./metrics"');
    // Its script and style are inline and allowed by hash; it connects to its own origin only.
    expect(r.text).toMatch(/<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'sha256-[^']+'; style-src 'sha256-[^']+'; connect-src 'self';/);
    expect(r.text).not.toMatch(/<(script|link)[^>]+(src|href)="(https?:)?\/\//);
    // What the page does in a browser: test/dashboard.test.ts.
    const head = await call(port, 'HEAD', '/stats');
    expect(head.status).toBe(200);
    expect(head.text).toBe('');
  });
});

describe('latency percentiles', () => {
  const bounds = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];
  const hist = (counts: Record<number, number>, sumMs = 0) => ({ counts: bounds.map((_, i) => counts[i] ?? 0).concat(counts[13] ?? 0), sumMs });

  it('interpolate linearly within the bucket the rank falls in', () => {
    // 10 latencies in (10, 25] ms: p50 is halfway through the bucket, p90 nine tenths.
    const h = hist({ 4: 10 }, 180);
    expect(percentile(h, bounds, 0.5)).toBe(17.5);
    expect(percentile(h, bounds, 0.9)).toBe(23.5);
    // 90 fast (≤ 1 ms) and 10 slow (in (100, 250]): p50 in the first bucket, p99 deep in the slow one.
    const mixed = hist({ 0: 90, 7: 10 });
    expect(percentile(mixed, bounds, 0.5)).toBeCloseTo(50 / 90, 3);
    expect(percentile(mixed, bounds, 0.9)).toBe(1);
    expect(percentile(mixed, bounds, 0.99)).toBe(235);
    // Above the last bound: the last bound, a lower limit.
    expect(percentile(hist({ 13: 3 }), bounds, 0.5)).toBe(10000);
    expect(summarize(hist({}), bounds)).toEqual({ count: 0, meanMs: null, p50Ms: null, p90Ms: null, p99Ms: null });
    expect(summarize(h, bounds)).toEqual({ count: 10, meanMs: 18, p50Ms: 17.5, p90Ms: 23.5, p99Ms: 24.85 });
  });
});

describe('runtime API', () => {
  async function twoServers(options: { admin?: EpoxyConfig['admin']; balance?: 'roundrobin' | { hash: 'host' } } = {}) {
    const a = await backend('A');
    const b = await backend('B');
    const [web, adminPort] = await freePorts(2);
    const proxy = await started({
      listeners: [{ name: 'web', bind: `127.0.0.1:${web}`, mode: 'http', routes: [{ pool: 'web' }] }],
      pools: { web: { servers: [a.address, b.address], balance: options.balance ?? 'roundrobin' }, other: { servers: [a.address] } },
      admin: options.admin ?? { bind: `127.0.0.1:${adminPort}` },
    });
    const port = options.admin ? Number(options.admin.bind.split(':').pop()) : adminPort;
    const send = async (n: number) => {
      for (let i = 0; i < n; i++) expect((await request(web, { path: `/r${i}` })).status).toBe(200);
    };
    return { proxy, a, b, web, port, send };
  }

  it('drain takes a server out of rotation (no new requests reach it), ready brings it back, maint too', async () => {
    const { proxy, a, b, port, send } = await twoServers();
    const events: string[] = [];
    proxy.on('server', (e) => events.push(`${e.server} ${e.state} ${e.source}`));

    const drained = await call(port, 'POST', `/api/pools/web/servers/${enc(a.address)}/drain`);
    expect(drained.status).toBe(200);
    expect(drained.json).toEqual({ pool: 'web', server: { address: a.address, weight: 1, maxconn: 0, state: 'drain' } });
    const [beforeA, beforeB] = [a.seen.length, b.seen.length];
    await send(6);
    expect(a.seen.length - beforeA).toBe(0);
    expect(b.seen.length - beforeB).toBe(6);
    expect(proxy.pool('web').servers()[0]!.state).toBe('drain');
    expect(events).toContain(`${a.address} drain admin`);

    expect((await call(port, 'POST', `/api/pools/web/servers/${enc(a.address)}/ready`)).json.server.state).toBe('up');
    const afterReady = a.seen.length;
    await send(6);
    expect(a.seen.length - afterReady).toBe(3);

    expect((await call(port, 'POST', `/api/pools/web/servers/${enc(a.address)}/maint`)).json.server.state).toBe('maint');
    const afterMaint = a.seen.length;
    await send(4);
    expect(a.seen.length).toBe(afterMaint);
    const st = (await call(port, 'GET', '/stats')).json;
    expect(st.pools[0].servers[0].state).toBe('maint');
    expect(parseMetrics((await call(port, 'GET', '/metrics')).text).value('epoxy_server_state', { pool: 'web', server: a.address, state: 'maint' })).toBe(1);
  });

  it('adds, re-weights and removes a server, and says what is wrong with a bad request', async () => {
    const { proxy, a, b, port, send } = await twoServers();
    const c = await backend('C');
    const base = '/api/pools/web/servers';

    const added = await call(port, 'POST', base, { body: { address: c.address, weight: 2, maxconn: 10 } });
    expect(added.status).toBe(201);
    expect(added.json).toEqual({ pool: 'web', server: { address: c.address, weight: 2, maxconn: 10, state: 'up' } });
    expect(proxy.pool('web').servers().map((s) => s.address)).toEqual([a.address, b.address, c.address]);
    await send(8);
    expect(c.seen).toHaveLength(4);  // weights 1, 1, 2

    const put = await call(port, 'PUT', `${base}/${enc(c.address)}`, { body: { weight: 6, maxconn: 0 } });
    expect(put.json.server).toEqual({ address: c.address, weight: 6, maxconn: 0, state: 'up' });
    expect(proxy.pool('web').servers()[2]).toMatchObject({ weight: 6, maxconn: 0 });
    const seenC = c.seen.length;
    await send(8);
    expect(c.seen.length - seenC).toBe(6);
    expect((await call(port, 'GET', base)).json.servers).toEqual(proxy.pool('web').servers());

    const removed = await call(port, 'DELETE', `${base}/${enc(c.address)}`);
    expect(removed.json).toEqual({ pool: 'web', removed: c.address });
    const afterRemove = c.seen.length;
    await send(4);
    expect(c.seen.length).toBe(afterRemove);

    // What a bad request gets: the status and a message naming the problem.
    const cases: Array<[string, string, unknown, number, RegExp]> = [
      ['DELETE', `${base}/${enc(c.address)}`, undefined, 404, /pool "web" has no server 127\.0\.0\.1:\d+ \(servers are: /],
      ['POST', base, { address: a.address }, 409, /pool "web" already has server/],
      ['POST', base, { address: 'nonsense' }, 400, /^address: "nonsense" is not a valid address/],
      ['POST', base, { address: 'localhost:80' }, 400, /^address: "localhost:80" is a host name; live changes take an IP literal/],
      ['POST', base, { weight: 2 }, 400, /^address is required/],
      ['POST', base, { address: '127.0.0.1:1', weight: 0 }, 400, /^weight must be a whole number from 1 to 256, got number 0/],
      ['POST', base, { address: '127.0.0.1:1', weight: '2' }, 400, /^weight must be a whole number from 1 to 256, got string "2"/],
      ['POST', base, { address: '127.0.0.1:1', state: 'off' }, 400, /^state must be "ready", "drain" or "maint", got string "off"/],
      ['POST', base, { address: '127.0.0.1:1', wieght: 2 }, 400, /^unknown field "wieght" \(allowed: address, weight, maxconn, state\)/],
      ['POST', base, undefined, 400, /a JSON body is required/],
      ['PUT', `${base}/${enc(a.address)}`, {}, 400, /must set weight or maxconn/],
      ['PUT', `${base}/${enc(a.address)}`, { maxconn: -1 }, 400, /^maxconn must be a whole number from 0 to 1000000/],
      ['POST', '/api/pools/nope/servers', { address: '127.0.0.1:1' }, 404, /^no pool named "nope" \(pools are: web, other\)/],
      ['POST', `${base}/not-an-address/drain`, undefined, 400, /^server address: "not-an-address" is not a valid address/],
      ['POST', `${base}/${enc(a.address)}/drain`, { extra: 1 }, 400, /takes no body/],
    ];
    for (const [method, path, body, status, message] of cases) {
      const r = await call(port, method, path, { body });
      expect(r.status, `${method} ${path} ${JSON.stringify(body)}: ${r.text}`).toBe(status);
      expect(r.json.error, `${method} ${path}`).toMatch(message);
      expect(Object.keys(r.json)).toEqual(['error']);
    }
    // Nothing was changed by the refused calls.
    expect(proxy.pool('web').servers().map((s) => s.address)).toEqual([a.address, b.address]);
  });

  it('answers pick for a hash pool as proxy.pool().pick does', async () => {
    const { proxy, port } = await twoServers({ balance: { hash: 'host' } });
    for (const key of ['example.com', 'Other.Example.com:8080', 'x']) {
      const r = await call(port, 'GET', `/api/pools/web/pick?key=${enc(key)}`);
      expect(r.status).toBe(200);
      expect(r.json).toEqual({ pool: 'web', key, server: proxy.pool('web').pick(key) });
    }
    expect((await call(port, 'GET', '/api/pools/web/pick')).status).toBe(400);
    const notHash = await call(port, 'GET', '/api/pools/other/pick?key=x');
    expect(notHash.status).toBe(409);
    expect(notHash.json.error).toMatch(/does not hash/);
  });

  it('logs every change with method, path, client and outcome', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    });
    const a = await backend('A');
    const [web, port] = await freePorts(2);
    await started(
      {
        listeners: [{ name: 'web', bind: `127.0.0.1:${web}`, mode: 'http', routes: [{ pool: 'web' }] }],
        pools: { web: { servers: [a.address] } },
        admin: { bind: `127.0.0.1:${port}`, token: TOKEN },
      },
      { logger: pino({ level: 'info' }, sink) },
    );
    await call(port, 'POST', `/api/pools/web/servers/${enc(a.address)}/drain`, { headers: auth });
    await call(port, 'POST', `/api/pools/web/servers/${enc(a.address)}/ready`);
    await call(port, 'GET', '/stats');
    const changes = lines.filter((l) => l['component'] === 'admin' && 'outcome' in l);
    expect(changes).toEqual([
      expect.objectContaining({ method: 'POST', path: `/api/pools/web/servers/${enc(a.address)}/drain`, client: '127.0.0.1', outcome: 200, level: 30 }),
      expect.objectContaining({ method: 'POST', path: `/api/pools/web/servers/${enc(a.address)}/ready`, client: '127.0.0.1', outcome: 401, level: 40 }),
    ]);
    expect(JSON.stringify(lines)).not.toContain(TOKEN);

    // A client that goes away in the middle of its body is a refused change, not an error.
    const cut = await connect(port);
    cut.write(`POST /api/pools/web/servers HTTP/1.1\r\nHost: 127.0.0.1\r\n${Object.entries(auth).map(([k, v]) => `${k}: ${v}`).join('')}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"addr`);
    await sleep(50);
    cut.destroy();
    for (let i = 0; i < 50 && !lines.some((l) => l['outcome'] === 400); i++) await sleep(10);
    expect(lines.find((l) => l['outcome'] === 400)).toMatchObject({ method: 'POST', path: '/api/pools/web/servers', error: expect.stringMatching(/^the body was cut off/) });
    expect(lines.filter((l) => (l['level'] as number) >= 50)).toEqual([]);
    expect((await call(port, 'GET', '/stats')).status).toBe(200);
  });
});

describe('auth', () => {
  it('with a token, refuses changes without it (401, WWW-Authenticate) and accepts them with it; reads stay open', async () => {
    const a = await backend('A');
    const [web, port] = await freePorts(2);
    const proxy = await started({
      listeners: [{ name: 'web', bind: `127.0.0.1:${web}`, mode: 'http', routes: [{ pool: 'web' }] }],
      pools: { web: { servers: [a.address] } },
      admin: { bind: `127.0.0.1:${port}`, token: TOKEN },
    });
    const drain = `/api/pools/web/servers/${enc(a.address)}/drain`;
    const tries: Array<Record<string, string>> = [{}, { authorization: 'Bearer wrong-token-0123456789' }, { authorization: `Basic ${TOKEN}` }, { authorization: `Bearer ${TOKEN}x` }];
    for (const headers of tries) {
      const r = await call(port, 'POST', drain, { headers });
      expect(r.status, JSON.stringify(headers)).toBe(401);
      expect(r.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(r.json.error).toMatch(/Authorization: Bearer|wrong admin token/);
    }
    expect((await call(port, 'POST', '/api/pools/web/servers', { body: { address: '127.0.0.1:1' } })).status).toBe(401);
    expect((await call(port, 'DELETE', `/api/pools/web/servers/${enc(a.address)}`)).status).toBe(401);
    expect((await call(port, 'PUT', `/api/pools/web/servers/${enc(a.address)}`, { body: { weight: 3 } })).status).toBe(401);
    expect((await call(port, 'POST', '/api/reload')).status).toBe(401);
    expect(proxy.pool('web').servers()).toEqual([{ address: a.address, weight: 1, maxconn: 0, state: 'up' }]);

    expect((await call(port, 'POST', drain, { headers: auth })).status).toBe(200);
    expect(proxy.pool('web').servers()[0]!.state).toBe('drain');
    expect((await call(port, 'GET', '/stats')).status).toBe(200);
    expect((await call(port, 'GET', '/metrics')).status).toBe(200);
    expect((await call(port, 'GET', '/api/pools/web/servers')).status).toBe(200);

    // A browser page elsewhere cannot make the change, even with the operator's token.
    const cross = await call(port, 'POST', drain, { headers: { ...auth, origin: 'http://evil.example' } });
    expect(cross.status).toBe(403);
    expect(cross.json.error).toMatch(/cross-origin/);
    expect((await call(port, 'POST', drain, { headers: { ...auth, origin: `http://127.0.0.1:${port}` } })).status).toBe(200);
  });

  it('without a token, takes changes only with a loopback Host (DNS rebinding)', async () => {
    const a = await backend('A');
    const [web, port] = await freePorts(2);
    await started({
      listeners: [{ name: 'web', bind: `127.0.0.1:${web}`, mode: 'http', routes: [{ pool: 'web' }] }],
      pools: { web: { servers: [a.address] } },
      admin: { bind: `127.0.0.1:${port}` },
    });
    const drain = `/api/pools/web/servers/${enc(a.address)}/drain`;
    const rebound = await call(port, 'POST', drain, { headers: { host: `evil.example:${port}` } });
    expect(rebound.status).toBe(403);
    expect(rebound.json.error).toMatch(/loopback Host/);
    expect((await call(port, 'POST', drain, { headers: { host: `localhost:${port}` } })).status).toBe(200);
    expect((await call(port, 'POST', drain)).status).toBe(200);
  });

  it('a non-loopback admin bind without a token is a config error at admin.token', async () => {
    const a = await backend('A');
    const [web, port] = await freePorts(2);
    const config: EpoxyConfig = {
      listeners: [{ name: 'web', bind: `127.0.0.1:${web}`, mode: 'http', routes: [{ pool: 'web' }] }],
      pools: { web: { servers: [a.address] } },
      admin: { bind: `0.0.0.0:${port}` },
    };
    const err = await Proxy.start(config, { logger }).then(
      (p) => p.stop(),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues).toEqual([{ path: 'admin.token', message: expect.stringMatching(/is required because admin.bind 0\.0\.0\.0:\d+ is not a loopback address/) }]);
    await expect(connect(web)).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('bad requests', () => {
  it('answer 404, 405 with Allow, 400, 413, 415, and never hurt the proxy', async () => {
    const { port, web, a } = await trafficSetup();
    const servers = `/api/pools/pa/servers`;
    const r404 = await call(port, 'GET', '/nope');
    expect(r404.status).toBe(404);
    expect(r404.json).toEqual({ error: 'no such endpoint: /nope' });
    expect((await call(port, 'GET', '/stats/')).status).toBe(404);

    const r405 = await call(port, 'DELETE', '/stats');
    expect(r405.status).toBe(405);
    expect(r405.headers['allow']).toBe('GET, HEAD');
    expect(r405.json.error).toMatch(/DELETE is not allowed on \/stats/);
    expect((await call(port, 'GET', '/api/reload')).headers['allow']).toBe('POST');
    expect((await call(port, 'PATCH', `${servers}/${enc(a.address)}`)).headers['allow']).toBe('PUT, DELETE');

    const bad = await call(port, 'POST', servers, { raw: '{"address": ', headers: { 'content-type': 'application/json' } });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/^the body is not valid JSON/);
    expect((await call(port, 'POST', servers, { raw: '[1]', headers: { 'content-type': 'application/json' } })).json.error).toMatch(/must be a JSON object, got an array/);
    const form = await call(port, 'POST', servers, { raw: 'address=1.2.3.4:5', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(form.status).toBe(415);
    expect((await call(port, 'POST', `${servers}/%E0%A4%A/drain`)).status).toBe(400);

    const big = Buffer.alloc(64 * 1024 + 1, 'x');
    const declared = await call(port, 'POST', servers, { raw: big, headers: { 'content-type': 'application/json' } });
    expect(declared.status).toBe(413);
    expect(declared.json.error).toBe('the body is over 65536 bytes');
    // Chunked, no Content-Length: counted while read.
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: servers, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      for (let i = 0; i < 20; i++) req.write(Buffer.alloc(8 * 1024, ' '));
      req.end();
    });
    expect(chunked).toBe(413);
    expect((await call(port, 'POST', servers, { raw: Buffer.alloc(64 * 1024, ' '), headers: { 'content-type': 'application/json' } })).status).toBe(400);

    // Not HTTP at all: node's parser answers 400; the admin server and the proxy go on.
    const junk = await rawExchange(port, 'HELLO\r\n\r\n', 2000);
    expect(junk.data.toString()).toMatch(/^HTTP\/1\.1 400/);
    expect((await call(port, 'GET', '/stats')).status).toBe(200);
    expect((await request(web, { path: '/a/ok' })).status).toBe(200);
  });

  it('cuts a client that does not finish its request head in time', async () => {
    const { port } = await trafficSetup();
    const socket = await connect(port);
    socket.write('GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const started = Date.now();
    const reply = readBytes(socket, 1);
    socket.on('error', () => {});
    await once(socket, 'close');
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThan(4_000);
    expect(elapsed).toBeLessThan(8_000);
    expect((await reply).toString()).toMatch(/^HTTP\/1\.1 408 /);
  }, 15_000);
});

describe('reload through the API', () => {
  function configText(web: number, admin: number, servers: string[], extra = ''): string {
    return `export default {
  listeners: [{ name: 'web', bind: '127.0.0.1:${web}', mode: 'http', routes: [{ pool: 'web' }] }],
  pools: { web: { servers: ${JSON.stringify(servers)} } },
  admin: { bind: '127.0.0.1:${admin}'${extra} },
};
`;
  }

  it('applies a good config, refuses a bad one with 422 and its issues, and 409 without a source', async () => {
    const a = await backend('A');
    const b = await backend('B');
    const [web, port, port2] = await freePorts(3);
    const file = join(mkdtempSync(join(tmpdir(), 'epoxy-admin-')), 'epoxy.config.ts');
    writeFileSync(file, configText(web, port, [a.address]));
    let proxy: Proxy | undefined;
    const reload = async () => proxy!.reload((await loadConfigFile(file)) as EpoxyConfig);
    proxy = await started((await loadConfigFile(file)) as EpoxyConfig, { reload });
    expect(proxy.adminUrl).toBe(`http://127.0.0.1:${port}/`);
    expect((await request(web)).body.toString()).toMatch(/^A /);

    writeFileSync(file, configText(web, port, [b.address]));
    const good = await call(port, 'POST', '/api/reload');
    expect(good.status).toBe(200);
    expect(good.json).toEqual({ reloaded: true });
    expect((await request(web)).body.toString()).toMatch(/^B /);

    writeFileSync(file, configText(web, port, ['127.0.0.1:99999', 'nowhere']));
    const bad = await call(port, 'POST', '/api/reload');
    expect(bad.status).toBe(422);
    expect(bad.json.error).toBe('reload rejected, the running config stays');
    expect(bad.json.issues).toEqual([
      { path: 'pools.web.servers[0]', message: expect.stringMatching(/port must be 1–65535/) },
      { path: 'pools.web.servers[1]', message: expect.stringMatching(/missing ":port"/) },
    ]);
    expect((await request(web)).body.toString()).toMatch(/^B /);

    // A reload that moves the admin server: the answer comes back on the old one, then the new one serves.
    writeFileSync(file, configText(web, port2, [b.address], `, token: '${TOKEN}'`));
    expect((await call(port, 'POST', '/api/reload')).status).toBe(200);
    expect(proxy.adminUrl).toBe(`http://127.0.0.1:${port2}/`);
    expect((await call(port2, 'GET', '/stats')).status).toBe(200);
    expect((await call(port2, 'POST', '/api/reload')).status).toBe(401);
    expect((await call(port2, 'POST', '/api/reload', { headers: auth })).status).toBe(200);
    await expect(call(port, 'GET', '/stats')).rejects.toThrow(/ECONNREFUSED/);

    // Without a source to reload from.
    const [web2, port3] = await freePorts(2);
    await started({
      listeners: [{ name: 'web', bind: `127.0.0.1:${web2}`, mode: 'http', routes: [{ pool: 'web' }] }],
      pools: { web: { servers: [a.address] } },
      admin: { bind: `127.0.0.1:${port3}` },
    });
    const none = await call(port3, 'POST', '/api/reload');
    expect(none.status).toBe(409);
    expect(none.json.error).toMatch(/no config file to reload: it was started from code/);
  });

  it('starts, moves and stops the admin server with the config', async () => {
    const a = await backend('A');
    const [web, port, busy] = await freePorts(3);
    const config = (admin?: EpoxyConfig['admin']): EpoxyConfig => ({
      listeners: [{ name: 'web', bind: `127.0.0.1:${web}`, mode: 'http', routes: [{ pool: 'web' }] }],
      pools: { web: { servers: [a.address] } },
      ...(admin ? { admin } : {}),
    });
    const proxy = await started(config());
    expect(proxy.adminUrl).toBeUndefined();
    await proxy.reload(config({ bind: `127.0.0.1:${port}` }));
    expect((await call(port, 'GET', '/stats')).status).toBe(200);

    // A bind that fails rejects the reload and changes nothing.
    const blocker = net.createServer().listen(busy, '127.0.0.1');
    await once(blocker, 'listening');
    cleanups.push(() => new Promise((r) => blocker.close(r)));
    await expect(proxy.reload(config({ bind: `127.0.0.1:${busy}` }))).rejects.toThrow(/admin server \(127\.0\.0\.1:\d+\): .*EADDRINUSE/);
    expect(proxy.adminUrl).toBe(`http://127.0.0.1:${port}/`);
    expect((await call(port, 'GET', '/stats')).status).toBe(200);

    await proxy.reload(config());
    expect(proxy.adminUrl).toBeUndefined();
    await expect(call(port, 'GET', '/stats')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('moves the admin server between a specific and the wildcard address on the same port', async () => {
    const a = await backend('A');
    const [web, port] = await freePorts(2);
    const config = (bind: string, accessLog?: EpoxyConfig['accessLog']): EpoxyConfig => ({
      listeners: [{ name: 'web', bind: `127.0.0.1:${web}`, mode: 'http', routes: [{ pool: 'web' }] }],
      pools: { web: { servers: [a.address] } },
      admin: { bind, token: TOKEN },
      ...(accessLog ? { accessLog } : {}),
    });
    const proxy = await started(config(`127.0.0.1:${port}`));
    // Our own socket on 127.0.0.1:port collides with 0.0.0.0:port.
    await proxy.reload(config(`0.0.0.0:${port}`));
    expect(proxy.adminUrl).toBe(`http://0.0.0.0:${port}/`);
    expect((await call(port, 'GET', '/stats')).status).toBe(200);
    await proxy.reload(config(`127.0.0.1:${port}`));
    expect(proxy.adminUrl).toBe(`http://127.0.0.1:${port}/`);
    expect((await call(port, 'GET', '/stats')).status).toBe(200);

    // A reload that fails after the port was freed (the access log cannot be opened) puts the old
    // admin server back.
    const unwritable = { mode: 'full' as const, destination: '/proc/epoxy-no-such-dir/access.log' };
    await expect(proxy.reload(config(`0.0.0.0:${port}`, unwritable))).rejects.toThrow();
    expect(proxy.adminUrl).toBe(`http://127.0.0.1:${port}/`);
    expect((await call(port, 'GET', '/stats')).status).toBe(200);
  });

  it('a bind error fails start like a listener\'s, leaving nothing bound', async () => {
    const a = await backend('A');
    const [web, busy] = await freePorts(2);
    const blocker = net.createServer().listen(busy, '127.0.0.1');
    await once(blocker, 'listening');
    cleanups.push(() => new Promise((r) => blocker.close(r)));
    await expect(
      Proxy.start(
        {
          listeners: [{ name: 'web', bind: `127.0.0.1:${web}`, mode: 'http', routes: [{ pool: 'web' }] }],
          pools: { web: { servers: [a.address] } },
          admin: { bind: `127.0.0.1:${busy}` },
        },
        { logger },
      ),
    ).rejects.toThrow(/admin server \(127\.0\.0\.1:\d+\): .*EADDRINUSE/);
    await expect(connect(web)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('epoxy run reloads its file through POST /api/reload', async () => {
    const a = await backend('A');
    const b = await backend('B');
    const [web, port] = await freePorts(2);
    const file = join(mkdtempSync(join(tmpdir(), 'epoxy-admin-run-')), 'epoxy.config.ts');
    writeFileSync(file, configText(web, port, [a.address]));
    const cli = new URL('../dist/cli/main.js', import.meta.url).pathname;
    const child = spawn(process.execPath, [cli, 'run', '--no-watch', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    cleanups.push(async () => {
      if (child.exitCode === null) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
    });
    for (let i = 0; i < 200 && !out.includes('epoxy running'); i++) await sleep(25);
    expect(out).toContain(`admin: http://127.0.0.1:${port}/ (dashboard, /stats, /metrics)`);

    writeFileSync(file, configText(web, port, [b.address]));
    const good = await call(port, 'POST', '/api/reload');
    expect(good.status, out).toBe(200);
    expect((await request(web)).body.toString()).toMatch(/^B /);

    writeFileSync(file, 'export default {');
    const bad = await call(port, 'POST', '/api/reload');
    expect(bad.status).toBe(422);
    expect(bad.json.issues).toEqual([{ path: '(file)', message: expect.stringMatching(/^cannot load /) }]);
    expect(out).toMatch(/"trigger":"api"/);

    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    expect((await exited)[0]).toBe(0);
  });
});

describe('stop', () => {
  it('closes the admin server and its connections', async () => {
    const { proxy, port } = await trafficSetup();
    const agent = new http.Agent({ keepAlive: true });
    const kept = await new Promise<net.Socket>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/stats', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(req.socket!));
      });
      req.on('error', reject);
    });
    expect(kept.destroyed).toBe(false);
    const closed = once(kept, 'close');
    await proxy.stop({ graceMs: 0 });
    await closed;
    await expect(call(port, 'GET', '/stats')).rejects.toThrow(/ECONNREFUSED/);
    agent.destroy();
  });

  it('lets the process exit after stop(), with a keep-alive admin client still around', async () => {
    const a = await backend('A');
    const [web, port] = await freePorts(2);
    const dir = mkdtempSync(join(tmpdir(), 'epoxy-admin-exit-'));
    const script = join(dir, 'child.mjs');
    const dist = new URL('../dist/index.js', import.meta.url).href;
    const logs = new URL('../dist/log/logger.js', import.meta.url).href;
    writeFileSync(
      script,
      `import * as http from 'node:http';
import { Proxy } from '${dist}';
import { silentLogger } from '${logs}';
const proxy = await Proxy.start({
  listeners: [{ name: 'web', bind: '127.0.0.1:${web}', mode: 'http', routes: [{ pool: 'web' }] }],
  pools: { web: { servers: ['${a.address}'] } },
  admin: { bind: '127.0.0.1:${port}' },
}, { logger: silentLogger() });
const agent = new http.Agent({ keepAlive: true });
await new Promise((resolve) => http.get({ host: '127.0.0.1', port: ${port}, path: '/metrics', agent }, (res) => { res.resume(); res.on('end', resolve); }));
await proxy.stop({ graceMs: 0 });
console.log('stopped');
`,
    );
    const r = await runNode([script], 10_000);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('stopped');
    expect(r.code).toBe(0);
    expect(r.ms).toBeLessThan(5_000);
  });
});
