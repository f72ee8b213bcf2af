/** One access-log record per HTTP request, with timings, bytes and a termination code. */
import { Writable } from 'node:stream';
import * as net from 'node:net';
import { once } from 'node:events';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { Proxy } from '../src/index.js';
import { freePort, sleep } from './helpers.js';
import { httpBackend, rawExchange, request, type HttpBackend } from './http-helpers.js';

interface Access {
  listener: string;
  pool?: string;
  server?: string;
  method: string;
  path: string;
  status: number;
  bytesIn: number;
  bytesOut: number;
  tConnect: number;
  tResponse: number;
  tTotal: number;
  termination: string;
}

const records: Access[] = [];
let proxy: Proxy;
let port: number;
let ok: HttpBackend;
let slow: HttpBackend;
let dying: net.Server;
/** Sends a response head and the first bytes of a long body, then nothing more. */
let stalling: net.Server;

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        const rec = JSON.parse(line) as { msg: string; access?: Access };
        if (rec.msg === 'access' && rec.access) records.push(rec.access);
      }
      done();
    },
  });
  ok = await httpBackend('ok');
  slow = await httpBackend('slow', (_req, res) => setTimeout(() => res.end('late'), 2000));
  dying = net.createServer((s) => s.once('data', () => s.destroy()));
  dying.listen(0, '127.0.0.1');
  await once(dying, 'listening');
  stalling = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => s.write(`HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n${'x'.repeat(1000)}`));
  });
  stalling.listen(0, '127.0.0.1');
  await once(stalling, 'listening');
  port = await freePort();
  proxy = await Proxy.start(
    {
      listeners: [
        {
          name: 'web',
          bind: `127.0.0.1:${port}`,
          mode: 'http',
          routes: [
            { host: 'ok.test', pool: 'ok' },
            { host: 'slow.test', pool: 'slow' },
            { host: 'dying.test', pool: 'dying' },
            { host: 'stalling.test', pool: 'stalling' },
          ],
        },
      ],
      pools: {
        ok: { servers: [ok.address] },
        slow: { servers: [slow.address] },
        dying: { servers: [`127.0.0.1:${(dying.address() as net.AddressInfo).port}`], retries: 0 },
        stalling: { servers: [`127.0.0.1:${(stalling.address() as net.AddressInfo).port}`] },
      },
      timeouts: { serverMs: 300 },
      accessLog: true,
    },
    { logger: pino({ level: 'info' }, sink) },
  );
});

afterAll(async () => {
  await proxy.stop({ graceMs: 200 });
  await ok.close();
  await slow.close();
  dying.close();
  stalling.close();
});

async function recordFor(path: string): Promise<Access> {
  for (let i = 0; i < 100; i++) {
    const r = records.find((x) => x.path === path);
    if (r) return r;
    await sleep(20);
  }
  throw new Error(`no access record for ${path}`);
}

it('logs a served request with its pool, server, bytes and a normal termination', async () => {
  const r = await request(port, { path: '/fine', headers: { host: 'ok.test' } });
  expect(r.status).toBe(200);
  const a = await recordFor('/fine');
  expect(a).toMatchObject({ listener: 'web', pool: 'ok', server: ok.address, method: 'GET', status: 200, termination: '--' });
  expect(a.bytesIn).toBeGreaterThan(20);
  expect(a.bytesOut).toBeGreaterThan(r.body.length);
  expect(a.tTotal).toBeGreaterThanOrEqual(a.tResponse);
});

it('502 when the server dies before answering: server-side, during the response head', async () => {
  expect((await request(port, { path: '/dies', headers: { host: 'dying.test' } })).status).toBe(502);
  expect(await recordFor('/dies')).toMatchObject({ status: 502, termination: 'SH' });
});

it('504 on a server timeout: a server timeout during the response head', async () => {
  expect((await request(port, { path: '/late', headers: { host: 'slow.test' } })).status).toBe(504);
  expect(await recordFor('/late')).toMatchObject({ status: 504, termination: 'sH' });
});

it('a client that aborts while waiting is logged as a client abort', async () => {
  const s = net.connect(port, '127.0.0.1');
  await once(s, 'connect');
  s.write('GET /gone HTTP/1.1\r\nHost: slow.test\r\n\r\n');
  await sleep(100);
  s.resetAndDestroy();
  const a = await recordFor('/gone');
  // Waiting for the response head: no status was sent.
  expect(a).toMatchObject({ termination: 'CH', status: 0, pool: 'slow' });
});

it('a client that aborts in the middle of the response body is logged as CD, with the status it was sent', async () => {
  const s = net.connect(port, '127.0.0.1');
  await once(s, 'connect');
  s.write('GET /cut HTTP/1.1\r\nHost: stalling.test\r\n\r\n');
  // Wait for the head and some body: the response is under way when the client goes.
  let received = '';
  while (!received.includes('\r\n\r\nx')) received += ((await once(s, 'data')) as [Buffer])[0].toString('latin1');
  expect(received).toMatch(/^HTTP\/1\.1 200 /);
  s.resetAndDestroy();
  const a = await recordFor('/cut');
  expect(a).toMatchObject({ status: 200, termination: 'CD', pool: 'stalling' });
  expect(a.bytesOut).toBeGreaterThan(1000);
  expect(a.bytesOut).toBeLessThan(1_000_000);
});

it('400 for a malformed request is logged as a proxy refusal', async () => {
  const { data } = await rawExchange(port, 'GET /bad HTTP/1.1\r\nHost: ok.test\r\nBad Header: x\r\n\r\n');
  expect(data.toString('latin1')).toMatch(/^HTTP\/1\.1 400 /);
  expect(await recordFor('/bad')).toMatchObject({ status: 400, termination: 'PR' });
});
