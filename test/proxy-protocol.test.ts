/**
 * The PROXY protocol, sent (to nginx and haproxy, peers nobody here wrote) and accepted (from
 * haproxy send-proxy-v2 in front, and from forged headers on raw sockets), in TCP and HTTP mode,
 * IPv4 and IPv6; health checks to servers that require it; two epoxy instances chained.
 */
import { once } from 'node:events';
import * as net from 'node:net';
import * as os from 'node:os';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { EpoxyConfig, ListenerStats, Proxy } from '../src/index.js';
import { cleanupsAfterEach, startProxy } from './fixtures.js';
import { freePort, sleep } from './helpers.js';
import { httpBackend, rawExchange, type HttpBackend } from './http-helpers.js';
import {
  PEER_TOOLS,
  ensureTools,
  httpGet,
  startHaproxyAcceptProxy,
  startHaproxySendProxy,
  startNginxProxyProtocol,
  stopAllPeers,
  tcpRead,
  type PeerProcess,
} from './peer-procs.js';
import { buildProxyHeader, parseReply, plainRequest, startProxyAwareServer, type PeerServer } from './tls-peers.js';

const cleanups = cleanupsAfterEach();
const hasIPv6Loopback = Object.values(os.networkInterfaces()).some((l) => l?.some((a) => a.family === 'IPv6' && a.address === '::1'));

let nginx: PeerProcess;
let haproxy: PeerProcess;

beforeAll(async () => {
  ensureTools(Object.values(PEER_TOOLS));
  nginx = await startNginxProxyProtocol({ http: true, stream: true });
  haproxy = await startHaproxyAcceptProxy();
}, 300_000);

afterAll(async () => {
  await stopAllPeers();
});

const at = (port: number, host = '127.0.0.1') => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

async function tcpProxy(server: string, proxyProtocol: 'v1' | 'v2', host = '127.0.0.1'): Promise<{ proxy: Proxy; port: number }> {
  const port = await freePort(host);
  const proxy = await startProxy(
    {
      listeners: [{ name: 'tcp', bind: at(port, host), mode: 'tcp', pool: 'peer' }],
      pools: { peer: { servers: [server], proxyProtocol } },
    },
    cleanups,
  );
  return { proxy, port };
}

async function httpProxy(server: string, proxyProtocol: 'v1' | 'v2', host = '127.0.0.1'): Promise<{ proxy: Proxy; port: number }> {
  const port = await freePort(host);
  const proxy = await startProxy(
    {
      listeners: [{ name: 'web', bind: at(port, host), mode: 'http', routes: [{ pool: 'peer' }] }],
      pools: { peer: { servers: [server], proxyProtocol } },
    },
    cleanups,
  );
  return { proxy, port };
}

describe('sending the PROXY protocol to servers that require it', () => {
  for (const version of ['v1', 'v2'] as const) {
    it(`${version}, TCP mode: nginx (stream, proxy_protocol) sees the test client's address and port`, async () => {
      const { port } = await tcpProxy(at(nginx.ports['stream']!), version);
      const r = await tcpRead(port);
      expect(r.text.trim()).toBe(`addr=127.0.0.1 port=${r.localPort}`);
    });

    it(`${version}, HTTP mode: nginx (http, proxy_protocol) and haproxy (accept-proxy) see the client`, async () => {
      for (const peer of [at(nginx.ports['http']!), at(haproxy.ports['frontend']!)]) {
        const { port } = await httpProxy(peer, version);
        const r = await httpGet(port);
        expect(r.status).toBe(200);
        expect(r.body.trim()).toBe(`addr=127.0.0.1 port=${r.localPort}`);
      }
    });

    it(`${version}, TCP mode carrying HTTP to haproxy accept-proxy`, async () => {
      const { port } = await tcpProxy(at(haproxy.ports['frontend']!), version);
      const r = await httpGet(port);
      expect(r.body.trim()).toBe(`addr=127.0.0.1 port=${r.localPort}`);
    });
  }

  it.skipIf(!hasIPv6Loopback)('IPv6: a client on ::1 reaches nginx on ::1 as itself (TCP6)', async () => {
    const six = await startNginxProxyProtocol({ http: true, stream: true, host: '::1' });
    cleanups.push(() => six.stop());
    for (const version of ['v1', 'v2'] as const) {
      const { port } = await tcpProxy(at(six.ports['stream']!, '::1'), version, '::1');
      const r = await tcpRead(port, { host: '::1' });
      expect(r.text.trim()).toBe(`addr=::1 port=${r.localPort}`);
      const h = await httpProxy(at(six.ports['http']!, '::1'), version, '::1');
      const g = await httpGet(h.port, { host: '::1' });
      expect(g.body.trim()).toBe(`addr=::1 port=${g.localPort}`);
    }
  });

  it('HTTP mode: a server connection that carried one client\'s header serves only that client', async () => {
    // An HTTP backend that reads the v1 header of each connection and answers every request on
    // it with the client that header named, counting requests per connection.
    const seen: Array<{ client: string; requests: number }> = [];
    const backend = net.createServer((s) => {
      let buf = Buffer.alloc(0);
      let entry: { client: string; requests: number } | undefined;
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (!entry) {
          const line = buf.indexOf('\r\n');
          if (line < 0) return;
          entry = { client: buf.subarray(0, line).toString().split(' ').slice(2, 6).join(' '), requests: 0 };
          seen.push(entry);
          buf = buf.subarray(line + 2);
        }
        let end: number;
        while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
          buf = buf.subarray(end + 4);
          entry.requests++;
          s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${entry.client.length}\r\n\r\n${entry.client}`);
        }
      });
    });
    backend.listen(0, '127.0.0.1');
    await once(backend, 'listening');
    cleanups.push(() => new Promise((r) => backend.close(r)));
    const { port } = await httpProxy(`127.0.0.1:${(backend.address() as net.AddressInfo).port}`, 'v1');
    // Two keep-alive clients, three requests each, interleaved.
    const clients = await Promise.all([0, 1].map(() => keepAliveClient(port)));
    for (let i = 0; i < 3; i++) {
      for (const c of clients) expect(await c.get()).toBe(`127.0.0.1 127.0.0.1 ${c.localPort} ${port}`);
    }
    for (const c of clients) c.close();
    expect(seen.map((s) => s.requests).sort()).toEqual([3, 3]);
  });
});

/** A raw keep-alive HTTP/1.1 client; get() sends one request and reads one Content-Length response. */
async function keepAliveClient(port: number): Promise<{ localPort: number; get(): Promise<string>; close(): void }> {
  const s = net.connect(port, '127.0.0.1');
  await once(s, 'connect');
  let buf = Buffer.alloc(0);
  return {
    localPort: s.localPort!,
    get: () =>
      new Promise((resolve, reject) => {
        const onData = (d: Buffer) => {
          buf = Buffer.concat([buf, d]);
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const len = Number(/content-length: (\d+)/i.exec(buf.subarray(0, end).toString())?.[1] ?? 0);
          if (buf.length < end + 4 + len) return;
          const body = buf.subarray(end + 4, end + 4 + len).toString();
          buf = buf.subarray(end + 4 + len);
          s.off('data', onData);
          resolve(body);
        };
        s.on('data', onData);
        s.once('error', reject);
        s.write('GET / HTTP/1.1\r\nHost: t\r\n\r\n');
      }),
    close: () => s.destroy(),
  };
}

describe('accepting the PROXY protocol', () => {
  let backend: HttpBackend;
  beforeAll(async () => {
    backend = await httpBackend('b');
  });
  afterAll(async () => {
    await backend.close();
  });

  async function acceptingHttp(
    acceptProxy: EpoxyConfig['listeners'][number]['acceptProxy'],
    extra: Partial<EpoxyConfig> = {},
    logLines?: Array<Record<string, unknown>>,
  ): Promise<{ proxy: Proxy; port: number }> {
    const port = await freePort();
    const config: EpoxyConfig = {
      listeners: [{ name: 'web', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ pool: 'b' }], ...(acceptProxy ? { acceptProxy } : {}) }],
      pools: { b: { servers: [backend.address] } },
      ...extra,
    };
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line) logLines?.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    return { proxy: await startProxy(config, cleanups, pino({ level: 'info' }, sink)), port };
  }

  const stats = async (proxy: Proxy): Promise<ListenerStats> => (await proxy.stats()).listeners[0]!;
  const request = 'GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n';

  for (const version of [1, 2] as const) {
    it(`v${version}: a forged source (203.0.113.7) reaches X-Forwarded-For, the access log and the select hook`, async () => {
      const logs: Array<Record<string, unknown>> = [];
      const hooked: string[] = [];
      const { proxy, port } = await acceptingHttp(
        true,
        {
          accessLog: true,
          select: (ctx) => {
            hooked.push(`${ctx.clientAddress}:${ctx.clientPort}`);
            return undefined;
          },
        },
        logs,
      );
      const header = buildProxyHeader({ version, srcAddr: '203.0.113.7', srcPort: 40123, dstAddr: '127.0.0.1', dstPort: port });
      const before = backend.seen.length;
      const r = await rawExchange(port, Buffer.concat([header, Buffer.from(request)]));
      expect(r.data.toString()).toMatch(/^HTTP\/1\.1 200/);
      expect(backend.seen[before]!.headers['x-forwarded-for']).toBe('203.0.113.7');
      expect(hooked).toEqual(['203.0.113.7:40123']);
      for (let i = 0; i < 50 && !logs.some((l) => l['msg'] === 'access'); i++) await sleep(20);
      const access = logs.find((l) => l['msg'] === 'access')?.['access'] as { client: string } | undefined;
      expect(access?.client).toBe('203.0.113.7:40123');
      expect((await stats(proxy)).proxy).toMatchObject({ accepted: 1, invalid: 0 });
    });
  }

  it('{ hash: "client" } hashes the header\'s source, not the socket\'s', async () => {
    const a = await httpBackend('a');
    const c = await httpBackend('c');
    cleanups.push(() => a.close(), () => c.close());
    const port = await freePort();
    const proxy = await startProxy(
      {
        listeners: [{ name: 'web', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ pool: 'h' }], acceptProxy: true }],
        pools: { h: { balance: { hash: 'client' }, servers: [a.address, c.address] } },
      },
      cleanups,
    );
    const picks = new Set<string>();
    for (let i = 1; i <= 20; i++) {
      const src = `198.51.100.${i}`;
      const expected = proxy.pool('h').pick(src);
      const header = buildProxyHeader({ version: 2, srcAddr: src, srcPort: 1000 + i, dstAddr: '127.0.0.1', dstPort: port });
      const r = await rawExchange(port, Buffer.concat([header, Buffer.from(request)]));
      const name = /\r\n\r\n(\w+) /.exec(r.data.toString())?.[1];
      expect(expected === a.address ? 'a' : 'c').toBe(name);
      picks.add(name!);
    }
    expect(picks.size).toBe(2);
  });

  it('LOCAL (v2) and UNKNOWN (v1) keep the socket\'s own address', async () => {
    const { proxy, port } = await acceptingHttp(true);
    for (const header of [buildProxyHeader({ version: 2, command: 'local' }), Buffer.from('PROXY UNKNOWN\r\n')]) {
      const before = backend.seen.length;
      const r = await rawExchange(port, Buffer.concat([header, Buffer.from(request)]));
      expect(r.data.toString()).toMatch(/^HTTP\/1\.1 200/);
      expect(backend.seen[before]!.headers['x-forwarded-for']).toBe('127.0.0.1');
    }
    expect((await stats(proxy)).proxy.local).toBe(2);
  });

  it('a header split over several writes works', async () => {
    const { port } = await acceptingHttp(true);
    const bytes = Buffer.concat([buildProxyHeader({ version: 2, srcAddr: '203.0.113.9', srcPort: 9, dstAddr: '127.0.0.1', dstPort: port }), Buffer.from(request)]);
    const s = net.connect(port, '127.0.0.1');
    await once(s, 'connect');
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    const closed = once(s, 'close');
    const before = backend.seen.length;
    for (const piece of [bytes.subarray(0, 5), bytes.subarray(5, 13), bytes.subarray(13, 20), bytes.subarray(20)]) {
      s.write(piece);
      await sleep(30);
    }
    await closed;
    expect(Buffer.concat(chunks).toString()).toMatch(/^HTTP\/1\.1 200/);
    expect(backend.seen[before]!.headers['x-forwarded-for']).toBe('203.0.113.9');
  });

  it('missing, malformed, oversized and slow headers close the connection; the server sees nothing', async () => {
    const { proxy, port } = await acceptingHttp({ trusted: ['127.0.0.1'], timeoutMs: 300 });
    const before = backend.seen.length;
    const connectionsBefore = backend.connections();
    const oversized = Buffer.concat([buildProxyHeader({ version: 2, command: 'local' }).subarray(0, 14), Buffer.from([0x13, 0x88])]);
    const cases: Array<[string, Buffer]> = [
      ['missing', Buffer.from(request)],
      ['malformed v1', Buffer.from(`PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n${request}`)],
      ['bad v2 version', Buffer.concat([buildProxyHeader({ version: 2, command: 'local' }).subarray(0, 12), Buffer.from([0x31, 0x00, 0x00, 0x00]), Buffer.from(request)])],
      ['oversized v2 (5000 bytes)', oversized],
    ];
    for (const [what, bytes] of cases) {
      const r = await rawExchange(port, bytes, 2000);
      expect(r.data.length, what).toBe(0);
    }
    const started = Date.now();
    const slow = await rawExchange(port, Buffer.from('PROXY TCP4 1.2.3.4'), 3000);
    expect(slow.data.length).toBe(0);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(backend.seen.length).toBe(before);
    expect(backend.connections()).toBe(connectionsBefore);
    expect((await stats(proxy)).proxy).toMatchObject({ invalid: 4, timeouts: 1, accepted: 0 });
  });

  it('a source outside `trusted` is closed before any byte is read; TCP mode sends nothing on', async () => {
    const server = await startProxyAwareServer({ name: 'behind' });
    cleanups.push(() => server.close());
    const port = await freePort();
    const logs: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const proxy = await startProxy(
      {
        listeners: [{ name: 'tcp', bind: `127.0.0.1:${port}`, mode: 'tcp', pool: 's', acceptProxy: { trusted: ['10.0.0.0/8'] } }],
        pools: { s: { servers: [server.address] } },
      },
      cleanups,
      pino({ level: 'info' }, sink),
    );
    for (let i = 0; i < 3; i++) {
      const r = await rawExchange(port, Buffer.concat([buildProxyHeader({ version: 1, srcAddr: '10.1.1.1', srcPort: 1, dstAddr: '127.0.0.1', dstPort: port }), Buffer.from('hi\n')]), 2000);
      expect(r.data.length).toBe(0);
    }
    expect(server.connections.length).toBe(0);
    const s = (await proxy.stats()).listeners[0]!;
    expect(s.proxy.untrusted).toBe(3);
    await sleep(100);
    // Rate-limited: at most one line a second per engine thread for the burst.
    const warned = logs.filter((l) => String(l['msg']).includes('untrusted source'));
    expect(warned.length).toBeGreaterThanOrEqual(1);
    expect(warned.length).toBeLessThanOrEqual(Math.min(3, (await proxy.stats()).threads.length));
    expect(warned[0]).toMatchObject({ listener: 'tcp', client: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
  });

  it('haproxy send-proxy-v2 in front of epoxy: the backend behind epoxy sees the original client', async () => {
    const server = await startProxyAwareServer({ name: 'behind', proxyProtocol: 'v2' });
    cleanups.push(() => server.close());
    const port = await freePort();
    await startProxy(
      {
        listeners: [{ name: 'tcp', bind: `127.0.0.1:${port}`, mode: 'tcp', pool: 's', acceptProxy: { trusted: ['127.0.0.1'] } }],
        pools: { s: { servers: [server.address], proxyProtocol: 'v2' } },
      },
      cleanups,
    );
    const lb = await startHaproxySendProxy({ targetPort: port, version: 'v2' });
    cleanups.push(() => lb.stop());
    const r = await plainRequest(lb.ports['frontend']!, { line: 'through two proxies' });
    expect(parseReply(r.line)).toMatchObject({ name: 'behind', client: `127.0.0.1:${r.localPort}`, line: 'through two proxies' });
    // HTTP mode too: X-Forwarded-For from the header haproxy sent.
    const { port: httpPort } = await acceptingHttp({ trusted: ['127.0.0.1'] });
    const lb2 = await startHaproxySendProxy({ targetPort: httpPort, version: 'v1' });
    cleanups.push(() => lb2.stop());
    const before = backend.seen.length;
    const g = await httpGet(lb2.ports['frontend']!);
    expect(g.status).toBe(200);
    expect(backend.seen[before]!.headers['x-forwarded-for']).toBe('127.0.0.1');
  });

  it('two epoxy instances chained (send v2 -> accept) keep the first client\'s address and port', async () => {
    const server: PeerServer = await startProxyAwareServer({ name: 'end', proxyProtocol: 'v2' });
    cleanups.push(() => server.close());
    const inner = await freePort();
    await startProxy(
      {
        listeners: [{ name: 'inner', bind: `127.0.0.1:${inner}`, mode: 'tcp', pool: 's', acceptProxy: { trusted: ['127.0.0.1'] } }],
        pools: { s: { servers: [server.address], proxyProtocol: 'v2' } },
      },
      cleanups,
    );
    const { port: outer } = await tcpProxy(`127.0.0.1:${inner}`, 'v2');
    const r = await plainRequest(outer, { line: 'chained' });
    expect(parseReply(r.line)).toMatchObject({ name: 'end', client: `127.0.0.1:${r.localPort}` });
    // The destination the first client used survives too.
    expect(server.connections.at(-1)?.proxy).toMatchObject({ dstAddr: '127.0.0.1', dstPort: outer });
  });
});

describe('health checks against servers that require PROXY headers', () => {
  for (const version of ['v1', 'v2'] as const) {
    it(`${version}: HTTP and TCP checks send a LOCAL/UNKNOWN header, and the servers stay up`, async () => {
      const aware = await startProxyAwareServer({ name: 'checked', proxyProtocol: version });
      cleanups.push(() => aware.close());
      const port = await freePort();
      const proxy = await startProxy(
        {
          listeners: [{ name: 'web', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ pool: 'n' }] }],
          pools: {
            n: { servers: [at(nginx.ports['http']!)], proxyProtocol: version, health: { path: '/', intervalMs: 100, fall: 1 } },
            t: { servers: [aware.address], proxyProtocol: version, health: { type: 'tcp', intervalMs: 100, fall: 1 } },
          },
        },
        cleanups,
      );
      await aware.waitFor((cs) => cs.filter((c) => c.proxy).length >= 3, 5000);
      const st = await proxy.stats();
      for (const p of st.pools) expect(p.servers[0]!.state, p.name).toBe('up');
      for (const c of aware.connections) {
        expect(c.error).toBeUndefined();
        expect(c.proxy?.local || c.proxy?.family === 'UNKNOWN').toBe(true);
      }
      const r = await httpGet(port);
      expect(r.body.trim()).toBe(`addr=127.0.0.1 port=${r.localPort}`);
    });
  }
});

describe('the admin /stats view', () => {
  it('carries each listener\'s PROXY header and TLS inspection outcomes', async () => {
    const [port, adminPort] = [await freePort(), await freePort()];
    const backend = await httpBackend('stats');
    cleanups.push(() => backend.close());
    await startProxy(
      {
        listeners: [{ name: 'web', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ pool: 'b' }], acceptProxy: true }],
        pools: { b: { servers: [backend.address] } },
        admin: { bind: `127.0.0.1:${adminPort}` },
      },
      cleanups,
    );
    await rawExchange(port, 'GET / HTTP/1.1\r\nHost: t\r\n\r\n', 1000);
    const res = await fetch(`http://127.0.0.1:${adminPort}/stats`);
    const body = (await res.json()) as { listeners: Array<{ name: string; proxy?: { invalid: number }; tls?: { sni: number } }> };
    expect(body.listeners[0]).toMatchObject({ name: 'web', proxy: { invalid: 1, accepted: 0 }, tls: { sni: 0 } });
  });
});
