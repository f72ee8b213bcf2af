/** HTTP bodies at scale, 100-continue, WebSocket upgrade, and failures on the server side. */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as http from 'node:http';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Proxy } from '../src/index.js';
import { freePort, logger, sleep, writeRandom } from './helpers.js';
import { httpBackend, rawExchange, request, type HttpBackend } from './http-helpers.js';

const MiB = 1024 * 1024;

/** Reads a response body slowly (pauses), hashing it. */
function slowHash(res: http.IncomingMessage, pauseAt: number[], pauseMs: number): Promise<{ sha: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const todo = [...pauseAt];
  return new Promise((resolve, reject) => {
    res.on('data', (c: Buffer) => {
      hash.update(c);
      bytes += c.length;
      if (todo.length && bytes >= todo[0]!) {
        todo.shift();
        res.pause();
        setTimeout(() => res.resume(), pauseMs);
      }
    });
    res.on('end', () => resolve({ sha: hash.digest('hex'), bytes }));
    res.on('error', reject);
  });
}

describe('HTTP streams', () => {
  let proxy: Proxy;
  let port: number;
  let big: HttpBackend;
  let uploads: Array<{ sha: string; bytes: number }>;
  let downloadSha: string[];
  let ws: http.Server;
  let dying: net.Server;
  let slow: HttpBackend;
  let strict: Proxy;
  let strictPort: number;

  beforeAll(async () => {
    uploads = [];
    downloadSha = [];
    // /download-cl and /download-chunked send 64 MiB of random bytes; uploads are hashed slowly.
    big = await httpBackend('big');
    big.server.removeAllListeners('request');
    big.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (req.url?.startsWith('/download')) {
        if (req.url === '/download-cl') res.setHeader('content-length', String(64 * MiB));
        const sock = res as unknown as net.Socket;
        void writeRandom(sock, 64 * MiB).then((sha) => {
          downloadSha.push(sha);
          res.end();
        });
        return;
      }
      const hash = createHash('sha256');
      let bytes = 0;
      let paused = false;
      req.on('data', (c: Buffer) => {
        hash.update(c);
        bytes += c.length;
        if (!paused && bytes > 8 * MiB) {
          paused = true; // the slow reader: one 2 s pause mid-upload
          req.pause();
          setTimeout(() => req.resume(), 2000);
        }
      });
      req.on('end', () => {
        uploads.push({ sha: hash.digest('hex'), bytes });
        res.end('stored');
      });
    });
    // A WebSocket-style upgrade: after 101, echo bytes back.
    ws = http.createServer((_req, res) => res.end('no upgrade'));
    ws.on('upgrade', (req, socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      socket.pipe(socket);
    });
    ws.listen(0, '127.0.0.1');
    await once(ws, 'listening');
    // Sends half a response, then dies.
    dying = net.createServer((s) => {
      s.once('data', () => {
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n' + 'x'.repeat(100));
        setTimeout(() => s.destroy(), 50);
      });
    });
    dying.listen(0, '127.0.0.1');
    await once(dying, 'listening');
    slow = await httpBackend('slow', (_req, res) => setTimeout(() => res.end('late'), 1500));

    port = await freePort();
    const dead = `127.0.0.1:${await freePort()}`;
    proxy = await Proxy.start(
      {
        listeners: [
          {
            name: 'web',
            bind: `127.0.0.1:${port}`,
            mode: 'http',
            routes: [
              { host: 'ws.test', pool: 'ws' },
              { host: 'dying.test', pool: 'dying' },
              { host: 'dead.test', pool: 'dead' },
              { host: 'slow.test', pool: 'slow' },
              { pool: 'big' },
            ],
          },
        ],
        pools: {
          big: { servers: [big.address] },
          ws: { servers: [`127.0.0.1:${(ws.address() as net.AddressInfo).port}`] },
          dying: { servers: [`127.0.0.1:${(dying.address() as net.AddressInfo).port}`] },
          dead: { servers: [dead], retries: 0 },
          slow: { servers: [slow.address] },
        },
      },
      { logger },
    );
    // Short timeouts live on a proxy of their own: the slow readers above pause for seconds.
    strictPort = await freePort();
    strict = await Proxy.start(
      {
        listeners: [{ name: 'strict', bind: `127.0.0.1:${strictPort}`, mode: 'http', routes: [{ pool: 'slow' }] }],
        pools: { slow: { servers: [slow.address] } },
        timeouts: { serverMs: 500, httpRequestMs: 500 },
      },
      { logger },
    );
  });

  afterAll(async () => {
    await proxy.stop({ graceMs: 200 });
    await strict.stop({ graceMs: 200 });
    await big.close();
    await slow.close();
    ws.close();
    dying.close();
  });

  for (const framing of ['cl', 'chunked'] as const) {
    it(`uploads 64 MiB (${framing}) to a slow reader, exactly`, async () => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/upload', agent: false, headers: framing === 'cl' ? { 'content-length': String(64 * MiB) } : {} });
      const response = new Promise<http.IncomingMessage>((resolve) => req.on('response', resolve));
      const sha = await writeRandom(req as unknown as net.Socket, 64 * MiB);
      req.end();
      const res = await response;
      res.resume();
      await once(res, 'end');
      expect(res.statusCode).toBe(200);
      const got = uploads.at(-1)!;
      expect(got.bytes).toBe(64 * MiB);
      expect(got.sha).toBe(sha);
    }, 60_000);

    it(`downloads 64 MiB (${framing}) with a slow reader, exactly`, async () => {
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path: `/download-${framing}`, agent: false }, resolve).on('error', reject);
      });
      expect(res.headers['transfer-encoding']).toBe(framing === 'chunked' ? 'chunked' : undefined);
      const got = await slowHash(res, [1, 32 * MiB], 1500);
      expect(got.bytes).toBe(64 * MiB);
      expect(got.sha).toBe(downloadSha.at(-1));
    }, 60_000);
  }

  it('moves large bodies by splice, chunked ones included', async () => {
    // 4 transfers of 64 MiB went through; copying only the heads, framing lines and first reads.
    const stats = await proxy.stats();
    expect(stats.totals.bytesSpliced).toBeGreaterThan(240 * MiB);
  });

  it('passes 100-continue through: the client sends its body only after the interim response', async () => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/upload',
      agent: false,
      headers: { expect: '100-continue', 'content-length': '5' },
    });
    let continued = false;
    req.on('continue', () => {
      continued = true;
      req.end('hello');
    });
    const res = await new Promise<http.IncomingMessage>((resolve) => req.on('response', resolve));
    res.resume();
    await once(res, 'end');
    expect(continued).toBe(true);
    expect(res.statusCode).toBe(200);
    expect(uploads.at(-1)!.bytes).toBe(5);
  });

  it('upgrades to a WebSocket-style tunnel and echoes both ways', async () => {
    const s = net.connect(port, '127.0.0.1');
    await once(s, 'connect');
    s.write('GET /chat HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    let buf = Buffer.alloc(0);
    s.on('data', (c: Buffer) => (buf = Buffer.concat([buf, c])));
    while (!buf.includes('\r\n\r\n')) await sleep(10);
    expect(buf.toString('latin1')).toMatch(/^HTTP\/1\.1 101 /);
    const head = buf.indexOf('\r\n\r\n') + 4;
    const payload = randomBytes(300_000);
    s.write(payload);
    while (buf.length - head < payload.length) await sleep(10);
    expect(buf.subarray(head).equals(payload)).toBe(true);
    s.destroy();
  });

  it('a backend dying mid-response cuts the client (never a clean short body)', async () => {
    const { data, error } = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: dying.test\r\n\r\n');
    expect(data.toString('latin1')).toMatch(/^HTTP\/1\.1 200 /);
    expect(data.length).toBeLessThan(1000);
    expect(error).toBe('ECONNRESET');
  });

  it('503 when no server can be reached, 504 when the server is too slow, 408 for a slow client', async () => {
    expect((await request(port, { headers: { host: 'dead.test' } })).status).toBe(503);
    expect((await request(strictPort, { headers: { host: 'slow.test' } })).status).toBe(504);
    const { data } = await rawExchange(strictPort, 'GET / HTTP/1.1\r\nHost: slo', 3000);
    expect(data.toString('latin1')).toMatch(/^HTTP\/1\.1 408 /);
  });
});

describe('server connection pool limits', () => {
  it('closes idle server connections after serverIdleMs and keeps at most serverIdleMax', async () => {
    const backend = await httpBackend('b');
    const port = await freePort();
    const p = await Proxy.start(
      {
        listeners: [{ name: 'l', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ pool: 'b' }] }],
        pools: { b: { servers: [backend.address] } },
        engine: { serverIdleMs: 300, serverIdleMax: 2 },
      },
      { logger },
    );
    const idleNow = async () => (await p.stats()).pools[0]!.servers[0]!.idleConnections;
    // Five requests at once need five server connections; only two stay idle afterwards.
    await Promise.all(Array.from({ length: 5 }, (_, i) => request(port, { path: `/${i}` })));
    expect(backend.connections()).toBe(5);
    expect(await idleNow()).toBe(2);
    await sleep(600);
    expect(await idleNow()).toBe(0);
    await p.stop({ graceMs: 100 });
    await backend.close();
  });
});

describe('keep-alive race with the server', () => {
  it('resends a request once on a new connection when a reused one was closed by the server', async () => {
    // Answers the first request on each connection; a second one on the same connection is
    // met with a close, as when a server's keep-alive timeout fires just as a request arrives.
    let connections = 0;
    const racy = net.createServer((s) => {
      connections++;
      let served = 0;
      s.on('data', () => {
        if (served++ === 0) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        else s.destroy();
      });
      s.on('error', () => {});
    });
    racy.listen(0, '127.0.0.1');
    await once(racy, 'listening');
    const port = await freePort();
    const p = await Proxy.start(
      {
        listeners: [{ name: 'l', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ pool: 'r' }] }],
        pools: { r: { servers: [`127.0.0.1:${(racy.address() as net.AddressInfo).port}`] } },
      },
      { logger },
    );
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await request(port, { path: `/${i}`, agent })).status);
    agent.destroy();
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    expect(connections).toBe(5); // every reuse hit the race and was retried on a fresh connection
    await p.stop({ graceMs: 100 });
    racy.close();
  });
});

describe('retries of requests the server dropped', () => {
  /** A raw HTTP server: `answer(n)` decides for the n-th request on a connection (0-based): respond, or drop the connection. */
  async function rawServer(answer: (n: number, head: string) => boolean) {
    const seen: string[] = [];
    const srv = net.createServer((s) => {
      let n = 0;
      s.on('data', (d: Buffer) => {
        const head = d.toString('latin1');
        seen.push(head.split('\r\n')[0]!);
        if (answer(n++, head)) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        else s.destroy();
      });
      s.on('error', () => {});
    });
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    return { srv, seen, address: `127.0.0.1:${(srv.address() as net.AddressInfo).port}` };
  }

  async function proxyFor(servers: string[]) {
    const port = await freePort();
    const p = await Proxy.start(
      { listeners: [{ name: 'l', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ pool: 'r' }] }], pools: { r: { servers, passive: false } } },
      { logger },
    );
    return { p, port };
  }

  it('does not resend a POST when a reused connection was closed by the server: 502', async () => {
    const racy = await rawServer((n) => n === 0);
    const { p, port } = await proxyFor([racy.address]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    expect((await request(port, { path: '/a', agent })).status).toBe(200);
    const post = await request(port, { method: 'POST', path: '/b', body: 'x=1', agent });
    agent.destroy();
    expect(post.status).toBe(502);
    expect(racy.seen.filter((l) => l.startsWith('POST'))).toHaveLength(1); // sent once, never twice
    await p.stop({ graceMs: 100 });
    racy.srv.close();
  });

  it('resends a GET dropped on a fresh connection once, to another server', async () => {
    const crashy = await rawServer(() => false);
    const good = await rawServer(() => true);
    const { p, port } = await proxyFor([crashy.address, good.address]);
    for (let i = 0; i < 6; i++) expect((await request(port, { path: `/${i}` })).status).toBe(200);
    expect(crashy.seen.length).toBe(3); // round robin sent every other request there first
    expect(good.seen.length).toBe(6);
    const single = await proxyFor([crashy.address]);
    expect((await request(single.port, { path: '/only' })).status).toBe(502);
    await single.p.stop({ graceMs: 100 });
    await p.stop({ graceMs: 100 });
    crashy.srv.close();
    good.srv.close();
  });
});

describe('graceful stop', () => {
  it('closes idle keep-alive connections at once and lets a request in flight finish with Connection: close', async () => {
    const backend = await httpBackend('slow', (req, res) => {
      setTimeout(() => res.end(`done ${req.url}\n`), req.url === '/slow' ? 400 : 0);
    });
    const port = await freePort();
    const p = await Proxy.start(
      { listeners: [{ name: 'l', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ pool: 's' }] }], pools: { s: { servers: [backend.address] } } },
      { logger },
    );
    const idleAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    expect((await request(port, { path: '/warm', agent: idleAgent })).status).toBe(200); // now idle, kept open
    const busyAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const inFlight = request(port, { path: '/slow', agent: busyAgent });
    await sleep(100);
    const t0 = Date.now();
    await Promise.all([
      p.stop({ graceMs: 5000 }),
      inFlight.then((r) => {
        expect(r.status).toBe(200);
        expect(r.body.toString()).toBe('done /slow\n');
        expect(r.headers['connection']).toBe('close');
      }),
    ]);
    // Without closing the idle connection the stop would wait the whole 5 s grace.
    expect(Date.now() - t0).toBeLessThan(2000);
    idleAgent.destroy();
    busyAgent.destroy();
    await backend.close();
  });
});

describe('pooled per-request state', () => {
  it('a close-delimited response does not poison the next transaction that reuses its state', async () => {
    // /close answers HTTP/1.0-style (no length, ends with the connection); /big with a length
    // larger than one buffer, so its body goes through the response channel.
    const srv = net.createServer((s) => {
      s.once('data', (d: Buffer) => {
        if (d.toString().startsWith('GET /close')) {
          s.end('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n' + 'c'.repeat(50_000));
        } else {
          s.write(`HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n`);
          s.end('b'.repeat(100_000));
        }
      });
      s.on('error', () => {});
    });
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const port = await freePort();
    const p = await Proxy.start(
      {
        listeners: [{ name: 'l', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ pool: 's' }] }],
        pools: { s: { servers: [`127.0.0.1:${(srv.address() as net.AddressInfo).port}`] } },
      },
      { logger },
    );
    for (let i = 0; i < 5; i++) {
      const closed = await request(port, { path: '/close' });
      expect(closed.body.length).toBe(50_000);
      const big = await request(port, { path: '/big' });
      expect(big.status).toBe(200);
      expect(big.body.length).toBe(100_000);
    }
    await p.stop({ graceMs: 100 });
    srv.close();
  });
});
