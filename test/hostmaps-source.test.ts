/**
 * HostMapSource against real redis-server processes (test/redis-server.ts): loading both formats,
 * following changes (pub/sub, keyspace notifications, periodic resync), pools, Redis going away
 * and coming back empty, starting without Redis (cache file or empty), and the password never
 * reaching a log line. Each server is stopped by PID in afterAll.
 */
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';

import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { HostMapSource, type HostMapSourceOptions } from '../src/hostmaps/source.js';
import type { HostMapSettings, WeightedServer } from '../src/hostmaps/types.js';
import { normalizeHost, lookupCandidates } from '../src/hostmaps/keys.js';
import { parseHipacheUrl } from '../src/hostmaps/parse.js';
import { parseRedisUrl, redact, scrubSecret } from '../src/hostmaps/redis-url.js';
import { freePort } from './helpers.js';
import { startRedisServer, type RedisServer } from './redis-server.js';

interface Diff { map: string; host: string; servers: readonly string[] | null }
interface Capture { logger: Logger; lines: string[]; records(): Array<Record<string, unknown>> }

function captureLogs(): Capture {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk, _enc, done) { lines.push(...String(chunk).split('\n').filter(Boolean)); done(); } });
  return { logger: pino({ level: 'debug' }, sink), lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

async function waitFor(what: string, check: () => boolean, ms = 1000): Promise<number> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - start;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SITES: HostMapSettings = { name: 'sites', key: 'hostnames:{host}:backends', format: 'set' };
const HIPACHE: HostMapSettings = { name: 'hip', key: 'frontend:{host}', format: 'hipache' };

const servers: RedisServer[] = [];
const writers: Redis[] = [];
const sources: HostMapSource[] = [];

async function server(options: Parameters<typeof startRedisServer>[0] = {}): Promise<{ srv: RedisServer; w: Redis }> {
  const srv = await startRedisServer(options);
  servers.push(srv);
  const w = new Redis(srv.url, { lazyConnect: true, retryStrategy: () => 50 });
  w.on('error', () => undefined);
  await w.connect();
  writers.push(w);
  return { srv, w };
}

function source(url: string, opts: Partial<HostMapSourceOptions> & { capture?: Capture } = {}) {
  const diffs: Diff[] = [];
  const pools: Array<{ pool: string; servers: readonly WeightedServer[] }> = [];
  const capture = opts.capture ?? captureLogs();
  const s = new HostMapSource({
    redis: { url, channel: 'epoxy:changes', resyncMs: 60_000 },
    hostMaps: [SITES],
    logger: capture.logger,
    connectTimeoutMs: 1000,
    onHost: (map, host, list) => diffs.push({ map, host, servers: list }),
    onPool: (pool, list) => pools.push({ pool, servers: list }),
    ...opts,
  });
  sources.push(s);
  return { s, diffs, pools, capture };
}

afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.stop()));
});

afterAll(async () => {
  for (const w of writers) w.disconnect();
  await Promise.all(servers.map((s) => s.stop()));
});

describe('helpers without Redis', () => {
  it('redacts the password from URLs and from any text', () => {
    expect(redact('redis://user:secret@127.0.0.1:6379/0')).toBe('redis://user:***@127.0.0.1:6379/0');
    expect(redact('rediss://:p%40ss@h:1')).toBe('rediss://:***@h:1');
    expect(redact('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(redact('redis://u:pw@host:notaport/x')).not.toContain('pw');
    expect(redact('redis://h:1/0?password=hunter2')).not.toContain('hunter2');
    expect(scrubSecret('WRONGPASS for p@ss and p%40ss', 'rediss://:p%40ss@h:1')).toBe('WRONGPASS for *** and ***');
    expect(parseRedisUrl('redis://:x@h:1/3')).toMatchObject({ db: 3, tls: false, redacted: 'redis://:***@h:1/3' });
    expect(() => parseRedisUrl('http://:topsecret@h/0')).toThrow(/redis:\/\/ or rediss:\/\/*/);
    expect(() => parseRedisUrl('http://:topsecret@h/0')).not.toThrow(/topsecret/);
  });

  it('normalizes hosts: lowercase, without a :port and one trailing dot', () => {
    const cases: Array<[string, string]> = [
      ['WWW.Foo.com.', 'www.foo.com'], ['foo.com:8080', 'foo.com'], ['Foo.com.:443', 'foo.com'], ['*.Foo.COM', '*.foo.com'],
      ['[::1]:80', '[::1]'], ['[::1', '[::1'], ['a.b.', 'a.b'], ['a..', 'a.'], ['.', ''], ['x:', 'x'], ['host:http', 'host:http'],
      ['plain', 'plain'], ['', ''],
    ];
    for (const [h, want] of cases) expect(normalizeHost(h), h).toBe(want);
    expect(lookupCandidates('a.b.foo.com')).toEqual(['a.b.foo.com', '*.b.foo.com', '*.foo.com', '*.com']);
  });

  it('parses hipache URLs', () => {
    expect(parseHipacheUrl('http://1.2.3.4:8080')).toEqual({ address: '1.2.3.4:8080' });
    expect(parseHipacheUrl('http://1.2.3.4')).toEqual({ address: '1.2.3.4:80' });
    expect(parseHipacheUrl('HTTP://[0:0::1]/')).toEqual({ address: '[::1]:80' });
    for (const bad of ['https://1.2.3.4:443', 'http://1.2.3.4/app', 'http://a@1.2.3.4', 'http://backend:80', '1.2.3.4:80']) {
      expect('error' in parseHipacheUrl(bad), bad).toBe(true);
    }
  });
});

describe('with one redis-server', () => {
  let srv: RedisServer;
  let w: Redis;
  beforeAll(async () => ({ srv, w } = await server()));
  afterEach(async () => {
    await w.flushall();
  });

  it('loads the set format: wildcards, mixed case, duplicates, garbage and wrong types', async () => {
    await w.sadd('hostnames:www.foo.com:backends', '10.0.0.1:80', '[0:0::1]:8080', 'garbage', 'backend.internal:80');
    await w.sadd('hostnames:WWW.Foo.com:backends', '10.9.9.9:80');
    await w.sadd('hostnames:*.foo.com:backends', '10.0.0.2:80');
    await w.sadd('hostnames:API.Foo.com.:backends', '10.0.0.3:80', '10.0.0.3:80');
    await w.sadd('hostnames:Dup.X.com:backends', '10.0.0.5:80');
    await w.sadd('hostnames:DUP.x.com:backends', '10.0.0.4:80');
    await w.rpush('hostnames:list.com:backends', '10.0.0.6:80');
    await w.sadd('hostnames:bad host!:backends', '10.0.0.7:80');
    await w.sadd('unrelated:key', '10.0.0.8:80');
    const { s, diffs, capture } = source(srv.url);
    await s.start();
    expect(new Map(s.entries('sites'))).toEqual(new Map([
      ['www.foo.com', ['10.0.0.1:80', '[::1]:8080']],
      ['*.foo.com', ['10.0.0.2:80']],
      ['api.foo.com', ['10.0.0.3:80']],
      ['dup.x.com', ['10.0.0.4:80']],
    ]));
    expect(s.state('sites')).toMatchObject({ connection: 'connected', hosts: 4, syncErrors: 0, fromCache: false });
    expect(s.resolve('sites', 'WWW.FOO.COM.:8080')).toEqual({ host: 'www.foo.com', entry: 'www.foo.com', servers: ['10.0.0.1:80', '[::1]:8080'] });
    expect(s.resolve('sites', 'a.b.foo.com')?.entry).toBe('*.foo.com');
    expect(s.resolve('sites', 'foo.com')).toBeUndefined();
    await s.resync();
    await s.resync();
    expect(diffs).toEqual([]);
    const warns = capture.records().filter((r) => r['level'] === 40);
    const count = (pred: (r: Record<string, unknown>) => boolean) => warns.filter(pred).length;
    expect(count((r) => r['entry'] === 'garbage')).toBe(1);
    expect(count((r) => r['entry'] === 'backend.internal:80')).toBe(1);
    expect(count((r) => r['key'] === 'hostnames:list.com:backends')).toBe(1);
    expect(count((r) => r['key'] === 'hostnames:bad host!:backends')).toBe(1);
    expect(count((r) => r['host'] === 'www.foo.com' && Array.isArray(r['keys']))).toBe(1);
    expect(warns.find((r) => r['host'] === 'dup.x.com')).toMatchObject({ winner: 'hostnames:DUP.x.com:backends' });
  });

  it('loads the hipache format and skips identifiers, https and paths', async () => {
    await w.rpush('frontend:www.bar.com', 'mysite', 'http://10.1.0.1:80', 'http://10.1.0.2', 'https://10.1.0.3:443', 'http://10.1.0.4/app', 'http://[::1]:81');
    await w.rpush('frontend:*.bar.com', 'wild', 'http://10.1.0.9:8080');
    await w.rpush('frontend:empty.bar.com', 'only-identifier');
    const { s, capture } = source(srv.url, { hostMaps: [HIPACHE] });
    await s.start();
    expect(s.servers('hip', 'www.bar.com')).toEqual(['10.1.0.1:80', '10.1.0.2:80', '[::1]:81']);
    expect(s.resolve('hip', 'x.y.bar.com')).toMatchObject({ entry: '*.bar.com', servers: ['10.1.0.9:8080'] });
    expect(s.servers('hip', 'empty.bar.com')).toEqual([]);
    expect(capture.records().filter((r) => r['entry'] === 'https://10.1.0.3:443')).toHaveLength(1);
  });

  it('follows PUBLISH within 1 s; equal content in another order is no diff; a deleted key is a null diff', async () => {
    await w.sadd('hostnames:www.foo.com:backends', '10.0.0.1:80', '10.0.0.2:80');
    const { s, diffs } = source(srv.url);
    await s.start();
    await w.sadd('hostnames:new.foo.com:backends', '10.0.0.3:80');
    await w.publish('epoxy:changes', 'NEW.Foo.com.');
    const ms = await waitFor('the new host', () => diffs.length > 0);
    expect(ms).toBeLessThan(1000);
    expect(diffs).toEqual([{ map: 'sites', host: 'new.foo.com', servers: ['10.0.0.3:80'] }]);
    await w.multi().del('hostnames:www.foo.com:backends').sadd('hostnames:www.foo.com:backends', '10.0.0.2:80', '10.0.0.1:80').exec();
    await w.publish('epoxy:changes', 'www.foo.com');
    await sleep(100);
    expect(diffs).toHaveLength(1);
    await w.del('hostnames:new.foo.com:backends');
    await w.publish('epoxy:changes', 'new.foo.com');
    await waitFor('the removal', () => diffs.length > 1);
    expect(diffs[1]).toEqual({ map: 'sites', host: 'new.foo.com', servers: null });
    expect(s.resolve('sites', 'new.foo.com')).toBeUndefined();
  });

  it('without PUBLISH, a change shows at the next resync', async () => {
    const { s, diffs } = source(srv.url, { redis: { url: srv.url, channel: 'epoxy:changes', resyncMs: 300 } });
    await s.start();
    await w.sadd('hostnames:quiet.com:backends', '10.0.0.1:80');
    const ms = await waitFor('the resync', () => diffs.length > 0, 1500);
    expect(ms).toBeLessThan(1000);
    expect(diffs).toEqual([{ map: 'sites', host: 'quiet.com', servers: ['10.0.0.1:80'] }]);
    expect(s.state('sites')?.lastSyncAt).toBeGreaterThan(Date.now() - 1000);
  });

  it('follows pools in a SET and in a HASH with weights', async () => {
    await w.sadd('epoxy:pool:apps', '10.2.0.1:80', '10.2.0.2:80', 'junk');
    const { s, pools } = source(srv.url, { hostMaps: [], pools: [{ pool: 'apps', key: 'epoxy:pool:apps' }] });
    await s.start();
    expect(s.pool('apps')).toEqual([{ address: '10.2.0.1:80', weight: 1 }, { address: '10.2.0.2:80', weight: 1 }]);
    await w.multi().del('epoxy:pool:apps').hset('epoxy:pool:apps', '10.2.0.2:80', '3', '10.2.0.3:80', '256', '10.2.0.4:80', '0').exec();
    await w.publish('epoxy:changes', 'pool:apps');
    await waitFor('the HASH', () => pools.length > 0);
    expect(pools[0]).toEqual({ pool: 'apps', servers: [{ address: '10.2.0.2:80', weight: 3 }, { address: '10.2.0.3:80', weight: 256 }] });
    await w.del('epoxy:pool:apps');
    await w.publish('epoxy:changes', 'pool:apps');
    await waitFor('the removal', () => pools.length > 1);
    expect(pools[1]).toEqual({ pool: 'apps', servers: [] });
    expect(s.poolState('apps')).toMatchObject({ connection: 'connected', servers: 0, syncErrors: 0 });
  });

  it('writes the cache file after a sync, and a later start without Redis routes by it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'epoxy-hostmaps-'));
    const cacheFile = path.join(dir, 'sites.json');
    await w.sadd('hostnames:www.foo.com:backends', '10.0.0.1:80');
    await w.sadd('hostnames:*.foo.com:backends', '10.0.0.2:80');
    const first = source(srv.url, { hostMaps: [{ ...SITES, cacheFile }] });
    await first.s.start();
    await waitFor('the cache file', () => existsSync(cacheFile));
    const content = JSON.parse(readFileSync(cacheFile, 'utf8')) as Record<string, unknown>;
    expect(content).toMatchObject({ version: 1, key: SITES.key, format: 'set', entries: { 'hostnames:www.foo.com:backends': ['10.0.0.1:80'] } });
    await w.sadd('hostnames:www.foo.com:backends', '10.0.0.9:80');
    await w.publish('epoxy:changes', 'www.foo.com');
    await waitFor('the debounced rewrite', () => readFileSync(cacheFile, 'utf8').includes('10.0.0.9:80'), 2000);
    await first.s.stop();

    const dead = `redis://127.0.0.1:${await freePort()}/0`;
    const second = source(dead, { hostMaps: [{ ...SITES, cacheFile }] });
    const started = Date.now();
    await second.s.start();
    expect(Date.now() - started).toBeLessThan(1500);
    expect(second.s.state('sites')).toMatchObject({ connection: 'unreachable', hosts: 2, fromCache: true });
    expect(second.s.resolve('sites', 'x.foo.com')?.servers).toEqual(['10.0.0.2:80']);
    expect(second.capture.records().some((r) => r['level'] === 40 && /cache file/.test(String(r['msg'])))).toBe(true);

    writeFileSync(cacheFile, '{"version":1,"key":');
    const third = source(dead, { hostMaps: [{ ...SITES, cacheFile }] });
    await third.s.start();
    expect(third.s.state('sites')).toMatchObject({ hosts: 0, fromCache: false });
    expect(third.capture.records().some((r) => r['reason'] === 'not valid JSON')).toBe(true);
  });
});

describe('Redis coming and going', () => {
  it('unreachable at start without a cache: empty, a warning, then a full load once it answers', async () => {
    const port = await freePort();
    const { s, diffs, capture } = source(`redis://127.0.0.1:${port}/0`);
    await s.start();
    expect(s.state('sites')).toMatchObject({ connection: 'unreachable', hosts: 0, fromCache: false });
    expect(capture.records().some((r) => r['level'] === 40 && /fall through to the next route/.test(String(r['msg'])))).toBe(true);
    const { w } = await server({ port });
    await w.sadd('hostnames:late.com:backends', '10.0.0.1:80');
    await waitFor('the first load', () => diffs.length > 0, 5000);
    expect(diffs).toEqual([{ map: 'sites', host: 'late.com', servers: ['10.0.0.1:80'] }]);
    expect(s.state('sites')?.connection).toBe('connected');
  });

  it('killed while running: keeps the map, no diffs; a fresh server after it: resync with the right diffs', async () => {
    const { srv, w } = await server();
    await w.sadd('hostnames:stay.com:backends', '10.0.0.1:80');
    await w.sadd('hostnames:change.com:backends', '10.0.0.2:80');
    await w.sadd('hostnames:gone.com:backends', '10.0.0.3:80');
    const { s, diffs, capture } = source(srv.url, { redis: { url: srv.url, channel: 'epoxy:changes', resyncMs: 200 } });
    await s.start();
    await srv.stop(); // SIGKILL by PID: no persistence, the data is gone with it
    await waitFor('reconnecting', () => s.state('sites')?.connection === 'reconnecting');
    await sleep(500);
    expect(diffs).toEqual([]);
    expect(s.state('sites')?.hosts).toBe(3);
    expect(s.resolve('sites', 'gone.com')?.servers).toEqual(['10.0.0.3:80']);
    expect(capture.records().some((r) => r['level'] === 40 && r['to'] === 'reconnecting' && r['map'] === 'sites')).toBe(true);

    const fresh = await server({ port: srv.port });
    await fresh.w.sadd('hostnames:stay.com:backends', '10.0.0.1:80');
    await fresh.w.sadd('hostnames:change.com:backends', '10.0.0.9:80');
    await fresh.w.sadd('hostnames:new.com:backends', '10.0.0.4:80');
    await waitFor('the resync after the reconnect', () => diffs.length >= 3, 5000);
    const byHost = Object.fromEntries(diffs.map((d) => [d.host, d.servers]));
    expect(byHost).toEqual({ 'change.com': ['10.0.0.9:80'], 'gone.com': null, 'new.com': ['10.0.0.4:80'] });
    expect(s.state('sites')?.connection).toBe('connected');
  });

  it('a hung server (SIGSTOP): resyncs time out and count as errors, the map stays, no diffs', async () => {
    const { srv, w } = await server();
    await w.sadd('hostnames:hung.com:backends', '10.0.0.1:80');
    const { s, diffs } = source(srv.url, { redis: { url: srv.url, channel: 'epoxy:changes', resyncMs: 150 }, commandTimeoutMs: 200 });
    await s.start();
    srv.pause();
    try {
      await waitFor('a timed-out resync', () => (s.state('sites')?.syncErrors ?? 0) > 0, 2000);
      expect(s.state('sites')).toMatchObject({ hosts: 1 });
      expect(s.state('sites')?.lastError).toMatch(/timed out/i);
    } finally {
      srv.resume();
    }
    await w.sadd('hostnames:hung.com:backends', '10.0.0.2:80');
    await waitFor('the resync after SIGCONT', () => diffs.length > 0, 2000);
    expect(diffs).toEqual([{ map: 'sites', host: 'hung.com', servers: ['10.0.0.1:80', '10.0.0.2:80'] }]);
  });

  it('keyspace notifications: a change without PUBLISH within 1 s', async () => {
    const { srv, w } = await server({ notifyKeyspaceEvents: 'KEA' });
    const { s, diffs, pools } = source(srv.url, { pools: [{ pool: 'apps', key: 'epoxy:pool:apps' }] });
    await s.start();
    await w.sadd('hostnames:ks.com:backends', '10.0.0.1:80');
    expect(await waitFor('the keyspace event', () => diffs.length > 0)).toBeLessThan(1000);
    await w.hset('epoxy:pool:apps', '10.0.0.5:80', '2');
    await waitFor('the pool event', () => pools.length > 0);
    expect(pools[0]?.servers).toEqual([{ address: '10.0.0.5:80', weight: 2 }]);
    await w.del('hostnames:ks.com:backends');
    await waitFor('the deletion', () => diffs.length > 1);
    expect(diffs).toEqual([
      { map: 'sites', host: 'ks.com', servers: ['10.0.0.1:80'] },
      { map: 'sites', host: 'ks.com', servers: null },
    ]);
  });

  it('authenticates with the password in the URL and never logs it', async () => {
    const password = 'Sup3r-s3cret+pw';
    const { srv, w } = await server({ password });
    await w.sadd('hostnames:auth.com:backends', '10.0.0.1:80');
    const good = source(srv.url);
    await good.s.start();
    expect(good.s.state('sites')).toMatchObject({ connection: 'connected', hosts: 1 });
    const wrong = `redis://:${encodeURIComponent('Wr0ng-pass')}@127.0.0.1:${srv.port}/0`;
    const bad = source(wrong);
    await bad.s.start();
    expect(bad.s.state('sites')?.connection).toBe('unreachable');
    await srv.restart(); // the good one reconnects: more log lines
    await waitFor('reconnected', () => good.s.state('sites')?.connection === 'connected', 5000);
    const text = [...good.capture.lines, ...bad.capture.lines, JSON.stringify(bad.s.states())].join('\n');
    expect(text).toContain(':***@127.0.0.1');
    for (const secret of [password, encodeURIComponent(password), 'Wr0ng-pass']) expect(text).not.toContain(secret);
  });
});
