/**
 * Wake-up coalescing (engine.coalesceUs / coalesceSessions): with many clients busy at once the
 * engine pauses after a small batch so the next turn gathers more events; so it does while two or
 * more clients receive bulk data; a lone client never waits for a pause, and 0 turns it off.
 * Every request must still be answered in full. Coalescing is each engine thread's own decision
 * about its own clients, so these run one thread (engine.threads: 1) to count clients exactly.
 */
import { afterEach, expect, it } from 'vitest';

import type { EngineTuning } from '../src/index.js';
import { cleanupsAfterEach, startProxy } from './fixtures.js';
import { connect, freePort, hashIncoming, sleep, startBackend, writeRandom, type Backend } from './helpers.js';
import { httpBackend, type HttpBackend } from './http-helpers.js';
import { startLoad } from './load.js';

const cleanups = cleanupsAfterEach();
let backend: HttpBackend | undefined;
afterEach(async () => {
  await backend?.close();
  backend = undefined;
});

async function proxyWith(engine: EngineTuning) {
  backend = await httpBackend('b');
  const port = await freePort();
  const proxy = await startProxy(
    { listeners: [{ name: 'web', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ pool: 'p' }] }], pools: { p: { servers: [backend.address] } }, engine: { threads: 1, ...engine } },
    cleanups,
  );
  return { proxy, port };
}

/** `clients` keep-alive loops for `ms`; every answer is checked (status and body). */
async function keepAliveLoad(port: number, clients: number, ms: number) {
  const load = startLoad({ httpPort: port, keepAlive: clients, fresh: 0, tcp: 0 });
  await sleep(ms);
  const { ok, failures } = (await load.stop()).httpKeepAlive;
  return { ok, bad: failures };
}

it('pauses to gather events while many clients are busy, and answers every request', async () => {
  const { proxy, port } = await proxyWith({ coalesceSessions: 8 });
  const { ok, bad } = await keepAliveLoad(port, 24, 800);
  const t = (await proxy.stats()).totals;
  expect(bad).toEqual([]);
  expect(ok).toBeGreaterThan(200);
  expect(t.coalescePauses).toBeGreaterThan(0);
  expect(t.coalescedEvents).toBeGreaterThan(0);
});

it('never pauses for a lone client', async () => {
  const { proxy, port } = await proxyWith({});
  const { ok, bad } = await keepAliveLoad(port, 1, 400);
  expect(bad).toEqual([]);
  expect(ok).toBeGreaterThan(50);
  expect((await proxy.stats()).totals.coalescePauses).toBe(0);
  const bulk = await bulkDownloads({ coalesceUs: 0 }, 2, 8 * 1024 * 1024);
  expect(bulk.got.map((g) => g.sha).sort()).toEqual([...bulk.sent].sort());
  expect(bulk.stats.totals.coalescePauses).toBe(0);
});

/** `clients` TCP sessions at once, each downloading `bytes` of random data from the backend. */
async function bulkDownloads(engine: EngineTuning, clients: number, bytes: number) {
  const sent: Array<Promise<string>> = [];
  const source: Backend = await startBackend((s) => {
    sent.push(
      writeRandom(s, bytes).then((sha) => {
        s.end();
        return sha;
      }),
    );
  });
  cleanups.push(() => source.close());
  const port = await freePort();
  const proxy = await startProxy(
    { listeners: [{ name: 'tcp', bind: `127.0.0.1:${port}`, mode: 'tcp', pool: 'p' }], pools: { p: { servers: [source.address] } }, engine: { threads: 1, ...engine } },
    cleanups,
  );
  const got = await Promise.all(Array.from({ length: clients }, async () => hashIncoming(await connect(port))));
  return { got, sent: await Promise.all(sent), stats: await proxy.stats() };
}

it('pauses while two downloads splice bulk data, and delivers every byte', async () => {
  const { got, sent, stats } = await bulkDownloads({}, 2, 32 * 1024 * 1024);
  expect(got.map((g) => g.bytes)).toEqual([32 * 1024 * 1024, 32 * 1024 * 1024]);
  expect(got.map((g) => g.sha).sort()).toEqual([...sent].sort());
  expect(stats.totals.bytesSpliced).toBeGreaterThan(0);
  expect(stats.totals.coalescePauses).toBeGreaterThan(0);
});

it('never pauses a lone download (it would wait out every pause)', async () => {
  const { got, sent, stats } = await bulkDownloads({}, 1, 32 * 1024 * 1024);
  expect(got[0]!.sha).toBe(sent[0]);
  expect(stats.totals.bytesSpliced).toBeGreaterThan(0);
  expect(stats.totals.coalescePauses).toBe(0);
});

it('coalesceUs: 0 turns it off', async () => {
  const { proxy, port } = await proxyWith({ coalesceSessions: 8, coalesceUs: 0 });
  const { bad } = await keepAliveLoad(port, 24, 400);
  expect(bad).toEqual([]);
  expect((await proxy.stats()).totals.coalescePauses).toBe(0);
  const bulk = await bulkDownloads({ coalesceUs: 0 }, 2, 8 * 1024 * 1024);
  expect(bulk.got.map((g) => g.sha).sort()).toEqual([...bulk.sent].sort());
  expect(bulk.stats.totals.coalescePauses).toBe(0);
});
