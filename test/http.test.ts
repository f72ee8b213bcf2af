/** HTTP/1.1 mode end to end: routing, keep-alive, framing, rewrites, generated responses. */
import * as http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Proxy } from '../src/index.js';
import { freePort, logger, pool } from './helpers.js';
import { httpBackend, rawExchange, request, splitResponses, type HttpBackend } from './http-helpers.js';

describe('HTTP mode', () => {
  let proxy: Proxy;
  let port: number;
  let api: HttpBackend;
  let web: HttpBackend;
  let special: HttpBackend;
  let framing: HttpBackend;

  beforeAll(async () => {
    api = await httpBackend('api');
    web = await httpBackend('web');
    // Answers by path with the framings under test.
    framing = await httpBackend('framing', (req, res) => {
      const url = req.url ?? '';
      if (url === '/tiny-chunks') {
        res.setHeader('Trailer', 'x-checksum, content-length');
        res.write('a');
        res.write('b');
        res.write('c');
        res.addTrailers({ 'x-checksum': 'abc', 'content-length': '99' });
        res.end();
      } else if (url === '/no-content') {
        res.statusCode = 204;
        res.end();
      } else if (url === '/not-modified') {
        res.statusCode = 304;
        res.end();
      } else {
        res.setHeader('content-type', 'text/plain');
        res.end(`framing ${req.method} ${url}`);
      }
    });
    special = await httpBackend('special');
    port = await freePort();
    proxy = await Proxy.start(
      {
        listeners: [
          {
            name: 'web',
            bind: `127.0.0.1:${port}`,
            mode: 'http',
            routes: [
              { host: 'api.example.com', path: '/v1/', pool: 'api' },
              { host: '*.example.com', pool: 'web' },
              { host: 'framing.test', pool: 'framing' },
              { host: 'special.test', pool: 'special' },
            ],
          },
        ],
        pools: {
          api: { servers: [api.address] },
          web: { servers: [web.address] },
          framing: { servers: [framing.address] },
          special: { servers: [special.address] },
        },
      },
      { logger },
    );
  });

  afterAll(async () => {
    await proxy.stop({ graceMs: 200 });
    for (const b of [api, web, framing, special]) await b.close();
  });

  it('routes by normalized Host (case, port, trailing dot), wildcard and path prefix; 404 otherwise', async () => {
    const cases: Array<[string, string, number, string | undefined]> = [
      ['API.Example.COM', '/v1/users', 200, 'api'],
      ['api.example.com:8080', '/v1/x', 200, 'api'],
      ['api.example.com.', '/v1/x', 200, 'api'],
      ['api.example.com', '/v2/x', 200, 'web'], // path does not match: falls to the wildcard
      ['www.EXAMPLE.com', '/', 200, 'web'],
      ['example.com', '/', 404, undefined], // *.example.com does not cover the bare domain
      ['other.test', '/', 404, undefined],
    ];
    for (const [host, path, status, backend] of cases) {
      const r = await request(port, { path, headers: { host } });
      expect(r.status, `${host}${path}`).toBe(status);
      expect(r.headers['x-backend'], `${host}${path}`).toBe(backend);
    }
  });

  it('serves 100 keep-alive requests on one client connection across two pools', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    agent.on('free', (s) => sockets.add(s));
    for (let i = 0; i < 100; i++) {
      const host = i % 2 ? 'api.example.com' : 'www.example.com';
      const r = await request(port, { path: `/v1/${i}`, headers: { host }, agent });
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe(`${i % 2 ? 'api' : 'web'} GET /v1/${i}\n`);
    }
    expect(sockets.size).toBe(1);
    agent.destroy();
    // Server connections are pooled: 50 requests each, over one reused connection per server.
    expect(api.connections()).toBeLessThanOrEqual(2);
    expect(web.connections()).toBeLessThanOrEqual(2);
    const stats = await proxy.stats();
    const idle = stats.pools.flatMap((p) => p.servers).reduce((n, s) => n + s.idleConnections, 0);
    expect(idle).toBeGreaterThanOrEqual(2);
  });

  it('adds X-Forwarded-For, X-Forwarded-Proto and Via; drops hop-by-hop fields', async () => {
    special.seen.length = 0;
    const r = await request(port, {
      path: '/fwd',
      headers: {
        host: 'special.test',
        'x-forwarded-for': '10.1.2.3',
        'x-forwarded-proto': 'https',
        connection: 'keep-alive, x-secret',
        'x-secret': 'hop',
        'keep-alive': 'timeout=5',
        'x-end-to-end': 'kept',
      },
    });
    expect(r.status).toBe(200);
    expect(r.headers['via']).toBe('1.1 epoxy');
    const seen = special.seen[0]!;
    expect(seen.headers['x-forwarded-for']).toBe('10.1.2.3, 127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['via']).toBe('1.1 epoxy');
    expect(seen.headers['x-secret']).toBeUndefined();
    expect(seen.headers['keep-alive']).toBeUndefined();
    expect(seen.headers['x-end-to-end']).toBe('kept');
  });

  it('forwards tiny chunked responses with extensions and trailers, then more requests, without desync', async () => {
    const req = (path: string) => `GET ${path} HTTP/1.1\r\nHost: framing.test\r\n\r\n`;
    const { data } = await rawExchange(port, req('/tiny-chunks') + req('/after') + req('/tiny-chunks') + 'GET /last HTTP/1.1\r\nHost: framing.test\r\nConnection: close\r\n\r\n');
    const replies = splitResponses(data);
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(replies[0]!.body.toString()).toBe('abc');
    expect(replies[1]!.body.toString()).toBe('framing GET /after');
    expect(replies[2]!.body.toString()).toBe('abc');
    expect(replies[3]!.body.toString()).toBe('framing GET /last');
    // The framing trailer (content-length) never reaches the client; the harmless one does.
    const text = data.toString('latin1');
    expect(text).toContain('x-checksum: abc');
    expect(text).not.toMatch(/\r\ncontent-length: 99/i);
  });

  it('HEAD, 204 and 304 carry no body and the next request still works', async () => {
    const h = 'Host: framing.test\r\n';
    const { data } = await rawExchange(
      port,
      `HEAD /head HTTP/1.1\r\n${h}\r\nGET /no-content HTTP/1.1\r\n${h}\r\nGET /not-modified HTTP/1.1\r\n${h}\r\nGET /end HTTP/1.1\r\n${h}Connection: close\r\n\r\n`,
    );
    const replies = splitResponses(data, [true]);
    expect(replies.map((r) => r.status)).toEqual([200, 204, 304, 200]);
    expect(replies[0]!.body.length).toBe(0);
    expect(replies[3]!.body.toString()).toBe('framing GET /end');
  });

  it('answers 10 pipelined requests sent in one write, in order', async () => {
    let bytes = '';
    for (let i = 0; i < 10; i++) bytes += `GET /p${i} HTTP/1.1\r\nHost: framing.test\r\n${i === 9 ? 'Connection: close\r\n' : ''}\r\n`;
    const { data } = await rawExchange(port, bytes);
    const replies = splitResponses(data);
    expect(replies.map((r) => r.body.toString())).toEqual(Array.from({ length: 10 }, (_, i) => `framing GET /p${i}`));
  });

  it('forwards request bodies by Content-Length and by chunks', async () => {
    special.seen.length = 0;
    const body = Buffer.alloc(100_000, 'x');
    const r1 = await request(port, { method: 'POST', path: '/cl', headers: { host: 'special.test' }, body });
    expect(r1.status).toBe(200);
    const chunked = 'POST /chunked HTTP/1.1\r\nHost: special.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nx-t: 1\r\n\r\n';
    const { data } = await rawExchange(port, chunked);
    expect(splitResponses(data)[0]!.status).toBe(200);
    // Identical duplicate Content-Length values are accepted, and forwarded as one plain value.
    const dup = 'POST /dup HTTP/1.1\r\nHost: special.test\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello';
    expect(splitResponses((await rawExchange(port, dup)).data)[0]!.status).toBe(200);
    expect(special.seen[0]!.body.equals(body)).toBe(true);
    expect(special.seen[1]!.body.toString()).toBe('hello!');
    const seenDup = special.seen[2]!;
    expect(seenDup.body.toString()).toBe('hello');
    expect(seenDup.rawHeaders.filter((h) => h.toLowerCase() === 'content-length')).toHaveLength(1);
    expect(seenDup.headers['content-length']).toBe('5');
  });

  it('rejects smuggling attempts with 400 and the backend never sees them', async () => {
    special.seen.length = 0;
    const h = 'Host: special.test\r\n';
    const attacks = [
      `POST / HTTP/1.1\r\n${h}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      `POST / HTTP/1.1\r\n${h}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`,
      `POST / HTTP/1.1\r\n${h}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`,
      `GET / HTTP/1.1\r\n${h}X-Folded: a\r\n b\r\n\r\n`,
      `GET / HTTP/1.1\r\n${h}X-Space : a\r\n\r\n`,
      `GET / HTTP/1.1\r\n${h}X-Nul: a\0b\r\n\r\n`,
      `GET / HTTP/1.1\n${h}\r\n`,
      `GET / HTTP/1.1\r\n${h}X-Cr: a\rb\r\n\r\n`,
      `POST / HTTP/1.0\r\n${h}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      `POST / HTTP/1.1\r\n${h}Transfer-Encoding: chunked\r\n\r\n-1\r\n\r\n`,
      `POST / HTTP/1.1\r\n${h}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n\r\n`,
    ];
    for (const attack of attacks) {
      const { data } = await rawExchange(port, attack);
      const status = Number(data.toString('latin1').split(' ')[1]);
      expect([400, 501], JSON.stringify(attack)).toContain(status);
    }
    // Rejections of bodies happen after the head went out; none of them may reach a handler
    // with a body the two parsers would read differently.
    for (const s of special.seen) expect(['/']).toContain(s.url);
    expect(special.seen.filter((s) => s.body.length > 0)).toHaveLength(0);
  });

  it('431 for an oversized head, read by a client that keeps sending (lingering close)', async () => {
    const big = `GET / HTTP/1.1\r\nHost: special.test\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n` + 'b'.repeat(200_000);
    const { data, error } = await rawExchange(port, big);
    expect(error).toBeUndefined(); // no RST destroyed the response
    expect(data.toString('latin1')).toMatch(/^HTTP\/1\.1 431 /);
  });

  it('serves 2,000 concurrent keep-alive clients', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2000 });
    const results = await pool(Array.from({ length: 2000 }), 2000, async (_, i) => {
      const r = await request(port, { path: `/c${i}`, headers: { host: 'www.example.com' }, agent });
      return r.status === 200 && r.body.toString() === `web GET /c${i}\n`;
    });
    expect(results.filter((ok) => !ok)).toHaveLength(0);
    agent.destroy();
  }, 60_000);
});
