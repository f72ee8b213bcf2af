/**
 * Host maps in the engine (issue 16), through the addon itself (src/native.ts): an HTTP
 * listener whose first route is a host map, node:http backends, setHosts from JS, the
 * `hostMaps` stats of every thread, and malformed batches that must throw a TypeError while
 * the engine keeps serving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BALANCE, HOST_REMOVED, native, type NativeEngine, type NativeHostBatch, type NativeServerSpec, type NativeSnapshotSpec } from '../src/native.js';
import { freePort } from './helpers.js';
import { httpBackend, request, type HttpBackend } from './http-helpers.js';

function server(uid: number, address: string): NativeServerSpec {
  return { uid, address, weight: 1, maxconn: 0, admin: 0, up: true, proxyProtocol: 0 };
}

function pool(uid: number, name: string, servers: NativeServerSpec[]): NativeSnapshotSpec['pools'][number] {
  return {
    uid,
    name,
    balance: BALANCE.roundrobin,
    hashKey: 0,
    hashHeader: '',
    retries: 3,
    queueTimeoutMs: 5000,
    queueLimit: 1000,
    passive: { errors: 0, windowMs: 10_000, ejectMs: 10_000, count5xx: true },
    congestion: '',
    servers,
  };
}

function batch(entries: Array<[string, number[] | 'removed']>): NativeHostBatch {
  const counts: number[] = [];
  const servers: number[] = [];
  for (const [, uids] of entries) {
    if (uids === 'removed') {
      counts.push(HOST_REMOVED);
    } else {
      counts.push(uids.length);
      servers.push(...uids);
    }
  }
  return { hosts: entries.map(([h]) => h), counts: Uint32Array.from(counts), servers: Uint32Array.from(servers) };
}

interface MapStats {
  name: string;
  hosts: number;
  hits: number;
  misses: number;
  empty: number;
}

/** One Engine of two threads, its wake-ups feeding a stats waiter. */
class Driven {
  readonly engine: NativeEngine;
  #waiters = new Map<number, (json: string) => void>();
  #token = 1;
  #stopped = false;

  constructor(threads: number) {
    this.engine = new native.Engine(() => this.#drain(), { threads });
  }

  #drain(): void {
    const batch = this.engine.takeEvents();
    if (batch.stopped) this.#stopped = true;
    for (const [token, json] of batch.stats ?? []) {
      this.#waiters.get(token)?.(json);
      this.#waiters.delete(token);
    }
  }

  /** Every thread's part; also a barrier: commands queued before it have been applied. */
  stats(): Promise<Array<{ hostMaps: MapStats[]; pools: Array<{ noServer: number }> }>> {
    const token = this.#token++;
    return new Promise((resolve) => {
      this.#waiters.set(token, (json) => resolve((JSON.parse(json) as { threads: never[] }).threads));
      this.engine.requestStats(token);
    });
  }

  async close(): Promise<void> {
    const stopped = new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        this.#drain();
        if (this.#stopped) {
          clearInterval(poll);
          resolve();
        }
      }, 10);
    });
    this.engine.stop(0);
    await stopped;
    this.engine.close();
  }
}

async function bodyFor(port: number, host: string): Promise<string> {
  const r = await request(port, { headers: { host } });
  return r.status === 200 ? r.body.toString() : `<${r.status}>`;
}

describe('host maps in the engine (addon)', () => {
  const backends: HttpBackend[] = [];
  let d: Driven;
  let port: number;
  let base: NativeSnapshotSpec;

  beforeAll(async () => {
    for (const name of ['A', 'B', 'C', 'D']) {
      backends.push(await httpBackend(name, (_req, res) => res.end(name)));
    }
    port = await freePort();
    d = new Driven(2);
    const [a, b, c, fallback] = backends.map((x) => x.address);
    base = {
      listeners: [
        {
          name: 'web',
          bind: `127.0.0.1:${port}`,
          backlog: 511,
          maxconn: 0,
          congestion: '',
          mode: 'http',
          routes: [
            { host: '', path: '', alpn: '', pool: 0, hostMap: 0 },
            { host: '', path: '', alpn: '', pool: 1 },
          ],
        },
      ],
      pools: [pool(10, 'sites', [server(1, a!), server(2, b!), server(3, c!)]), pool(11, 'fallback', [server(4, fallback!)])],
      hostMaps: [
        {
          uid: 7,
          name: 'sites',
          pool: 0,
          balance: BALANCE.roundrobin,
          initial: batch([
            ['a.example.com', [1]],
            ['*.example.com', [2, 3]],
            ['empty.example.com', []],
          ]),
        },
      ],
      timeouts: { httpRequestMs: 5000, connectMs: 2000, clientMs: 10_000, serverMs: 10_000, tunnelMs: 10_000, selectMs: 1000, inspectMs: 2000 },
      tuning: {
        pipeSize: 65536,
        maxPipes: 64,
        spliceThreshold: 16384,
        maxHeadBytes: 16384,
        serverIdleMax: 100,
        serverIdleMs: 30_000,
        coalesceUs: 0,
        coalesceSessions: 64,
      },
      selectHook: false,
      accessLog: false,
      accessLogSample: 1_000_000,
    };
    d.engine.apply(base);
    await d.stats();
  });

  afterAll(async () => {
    await d?.close();
    await Promise.all(backends.map((b) => b.close()));
  });

  it('routes by the map: exact, wildcard over exactly the entry servers, empty 503, miss to the next route', async () => {
    expect(await bodyFor(port, 'a.example.com')).toBe('A');
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) seen.add(await bodyFor(port, `h${i}.example.com`));
    expect([...seen].sort()).toEqual(['B', 'C']);
    expect(await bodyFor(port, 'empty.example.com')).toBe('<503>');
    expect(await bodyFor(port, 'example.com')).toBe('D'); // *.example.com is not example.com
    expect(await bodyFor(port, 'other.org')).toBe('D');
    const threads = await d.stats();
    expect(threads).toHaveLength(2);
    const sum = (k: keyof Omit<MapStats, 'name'>) =>
      threads.reduce((n, t) => n + (t.hostMaps.find((m) => m.name === 'sites')?.[k] ?? 0), 0);
    for (const t of threads) expect(t.hostMaps.find((m) => m.name === 'sites')?.hosts).toBe(3);
    expect(sum('hits')).toBe(14);
    expect(sum('misses')).toBe(2);
    expect(sum('empty')).toBe(1);
    expect(threads.reduce((n, t) => n + (t.pools[0]?.noServer ?? 0), 0)).toBe(1);
  });

  it('setHosts adds, replaces and removes hosts on every thread', async () => {
    d.engine.setHosts(7, batch([['new.test', [3]], ['a.example.com', [2]]]));
    await d.stats();
    for (let i = 0; i < 6; i++) {
      expect(await bodyFor(port, 'new.test')).toBe('C');
      expect(await bodyFor(port, 'a.example.com')).toBe('B');
    }
    d.engine.setHosts(7, batch([['new.test', 'removed'], ['a.example.com', [99, 1]]])); // 99: no such server, skipped
    d.engine.setHosts(4242, batch([['new.test', [1]]])); // no such map: ignored
    await d.stats();
    expect(await bodyFor(port, 'new.test')).toBe('D');
    expect(await bodyFor(port, 'a.example.com')).toBe('A');
    for (const t of await d.stats()) expect(t.hostMaps.find((m) => m.name === 'sites')?.hosts).toBe(3);
  });

  it('a malformed batch throws a TypeError naming the problem, and the engine keeps serving', async () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ hosts: ['x.test'], counts: Uint32Array.of(1, 1), servers: Uint32Array.of(1, 2) }, /counts has 2 entries for 1 hosts/],
      [{ hosts: ['x.test'], counts: Uint32Array.of(2), servers: Uint32Array.of(1) }, /add up to 2 but servers has 1/],
      [{ hosts: ['x.test'], counts: [1], servers: Uint32Array.of(1) }, /counts must be a Uint32Array/],
      [{ hosts: [42], counts: Uint32Array.of(0), servers: new Uint32Array(0) }, /hosts\[0\] must be a string/],
      [{ counts: Uint32Array.of(0), servers: new Uint32Array(0) }, /hosts must be an array/],
      [undefined, /batch must be an object/],
    ];
    for (const [b, message] of bad) {
      expect(() => d.engine.setHosts(7, b as NativeHostBatch)).toThrow(TypeError);
      expect(() => d.engine.setHosts(7, b as NativeHostBatch)).toThrow(message);
    }
    expect(() => d.engine.setHosts(-1, batch([]))).toThrow(TypeError);
    expect(await bodyFor(port, 'a.example.com')).toBe('A');
    expect(await bodyFor(port, 'x.test')).toBe('D'); // nothing of the bad batches was applied
  });

  it('a hash balance for a map is refused with an error naming the map', () => {
    const hashed = { ...base, hostMaps: [{ uid: 9, name: 'hashed', pool: 0, balance: BALANCE.hash }] };
    expect(() => d.engine.apply(hashed)).toThrow(TypeError);
    expect(() => d.engine.apply(hashed)).toThrow(/hostMaps\[0\] \("hashed"\)\.balance/);
  });
});
