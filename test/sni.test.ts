/**
 * TCP listeners routed by the TLS ClientHello (SNI, ALPN) without decrypting: real TLS clients
 * (node:tls, openssl s_client) through epoxy to real TLS servers (node:tls with certificates
 * made for the test), and the hellos users report trouble with: split over segments and records,
 * padded to 10 KiB, absent, garbage.
 */
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { EpoxyConfig, ListenerStats, Proxy } from '../src/index.js';
import { cleanupsAfterEach, startProxy } from './fixtures.js';
import { freePort, sleep } from './helpers.js';
import { PEER_TOOLS, ensureTools } from './peer-procs.js';
import {
  bulkDownload,
  makeCerts,
  opensslClient,
  paddedHello,
  parseReply,
  plainRequest,
  rawClientHello,
  startDribbleRelay,
  startProxyAwareServer,
  startTlsServer,
  tlsConnect,
  tlsRequest,
  type Certs,
  type PeerServer,
} from './tls-peers.js';

const MiB = 1024 * 1024;
const cleanups = cleanupsAfterEach();

let certs: Certs;
const servers: Record<'api' | 'www' | 'h2' | 'fallback' | 'plain', PeerServer> = {} as never;

beforeAll(async () => {
  ensureTools([PEER_TOOLS.openssl]);
  certs = await makeCerts(['api.example.com', '*.example.com', 'fallback.test']);
  servers.api = await startTlsServer({ name: 'api', certs, certName: 'api.example.com', alpn: ['h2', 'http/1.1'] });
  servers.www = await startTlsServer({ name: 'www', certs, certName: '*.example.com', alpn: ['h2', 'http/1.1'] });
  servers.h2 = await startTlsServer({ name: 'h2', certs, certName: '*.example.com', alpn: ['h2'] });
  servers.fallback = await startTlsServer({ name: 'fallback', certs, certName: 'fallback.test' });
  servers.plain = await startProxyAwareServer({ name: 'plain' });
}, 120_000);

afterAll(async () => {
  for (const s of Object.values(servers)) await s.close();
});

async function sniProxy(extra: Partial<EpoxyConfig> = {}, defaultPool = 'fallback'): Promise<{ proxy: Proxy; port: number }> {
  const port = await freePort();
  const config: EpoxyConfig = {
    listeners: [
      {
        name: 'tls',
        bind: `127.0.0.1:${port}`,
        mode: 'tcp',
        routes: [
          { sni: 'api.example.com', pool: 'api' },
          { sni: 'h2.example.com', alpn: 'h2', pool: 'h2' },
          { sni: '*.example.com', pool: 'www' },
          { pool: defaultPool },
        ],
      },
    ],
    pools: Object.fromEntries(Object.entries(servers).map(([name, s]) => [name, { servers: [s.address] }])),
    timeouts: { inspectMs: 400 },
    ...extra,
  };
  return { proxy: await startProxy(config, cleanups), port };
}

async function listenerStats(proxy: Proxy): Promise<ListenerStats> {
  return (await proxy.stats()).listeners[0]!;
}

const ask = (port: number, o: { servername?: string; alpn?: string[]; verifyName?: string }) =>
  tlsRequest(port, { ca: certs.ca, line: 'hello', timeoutMs: 5000, ...o }).then((r) => ({ ...r, reply: parseReply(r.line) }));

describe('SNI routing: real handshakes end to end', () => {
  it('routes by exact name, wildcard and ALPN; each reply names its server', async () => {
    const { proxy, port } = await sniProxy();
    expect((await ask(port, { servername: 'api.example.com' })).reply).toMatchObject({ name: 'api', sni: 'api.example.com', line: 'hello' });
    expect((await ask(port, { servername: 'foo.example.com' })).reply).toMatchObject({ name: 'www', sni: 'foo.example.com' });
    const h2 = await ask(port, { servername: 'h2.example.com', alpn: ['http/1.1', 'h2'] });
    expect(h2.reply).toMatchObject({ name: 'h2', alpn: 'h2' });
    // Not offering h2: the ALPN route does not match, the wildcard does.
    expect((await ask(port, { servername: 'h2.example.com', alpn: ['http/1.1'] })).reply).toMatchObject({ name: 'www', alpn: 'http/1.1' });
    const s = await listenerStats(proxy);
    expect(s.tls).toMatchObject({ sni: 4, noSni: 0, notTls: 0, malformed: 0, tooLarge: 0, timeouts: 0, noRoute: 0 });
  });

  it('SNI is matched case-insensitively with a trailing dot ignored', async () => {
    const { port } = await sniProxy();
    // node:tls sends the servername as given; the certificate is checked against verifyName.
    const hello = await rawClientHello({ servername: 'API.Example.COM.' });
    expect(hello.includes(Buffer.from('API.Example.COM.'))).toBe(true);
    const before = servers.api.connections.length;
    const c = net.connect(port, '127.0.0.1');
    c.on('error', () => {});
    c.write(hello);
    await servers.api.waitFor((cs) => cs.length > before, 5000);
    c.destroy();
  });

  it('no SNI, and a client that sends nothing, take the default route (the latter after inspectMs)', async () => {
    const { proxy, port } = await sniProxy();
    expect((await ask(port, { verifyName: 'fallback.test' })).reply).toMatchObject({ name: 'fallback', sni: '-' });
    const { proxy: p2, port: port2 } = await sniProxy({}, 'plain');
    const silent = net.connect(port2, '127.0.0.1');
    const started = Date.now();
    const before = servers.plain.connections.length;
    await servers.plain.waitFor((cs) => cs.length > before, 5000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
    // Still a working connection: it talks to the server once routed.
    silent.write('late\n');
    const line = await new Promise<string>((resolve) => silent.once('data', (d: Buffer) => resolve(d.toString())));
    expect(parseReply(line.trim())).toMatchObject({ name: 'plain', line: 'late' });
    silent.destroy();
    expect((await listenerStats(proxy)).tls.noSni).toBe(1);
    expect((await listenerStats(p2)).tls.timeouts).toBe(1);
  });

  it('plain text is not TLS: it goes to the default route, bytes intact', async () => {
    const { proxy, port } = await sniProxy({}, 'plain');
    const r = await plainRequest(port, { line: 'GET / HTTP/1.1' });
    expect(parseReply(r.line)).toMatchObject({ name: 'plain', line: 'GET / HTTP/1.1' });
    expect((await listenerStats(proxy)).tls.notTls).toBe(1);
  });

  it('openssl s_client with -servername and -alpn', async () => {
    const { port } = await sniProxy();
    const a = await opensslClient(port, { servername: 'api.example.com', alpn: ['h2'], caFile: certs.caFile, line: 'from openssl' });
    expect(parseReply(a.line)).toMatchObject({ name: 'api', sni: 'api.example.com', alpn: 'h2', line: 'from openssl' });
    const w = await opensslClient(port, { servername: 'WWW.example.com', caFile: certs.caFile, line: 'mixed case' });
    expect(parseReply(w.line)).toMatchObject({ name: 'www', line: 'mixed case' });
  });

  for (const mode of ['bytewise', 'two-records'] as const) {
    it(`a ClientHello ${mode === 'bytewise' ? 'written one byte per write' : 'split over two TLS records'} still routes, and the handshake completes`, async () => {
      const { proxy, port } = await sniProxy();
      const relay = await startDribbleRelay(port, mode);
      cleanups.push(() => relay.close());
      const r = await ask(relay.port, { servername: 'api.example.com' });
      expect(r.reply).toMatchObject({ name: 'api', sni: 'api.example.com' });
      const st = relay.stats[0]!;
      if (mode === 'bytewise') expect(st.writes).toBeGreaterThan(100);
      else expect(st.records).toHaveLength(2);
      expect((await listenerStats(proxy)).tls.sni).toBe(1);
    });
  }

  it('a 10 KiB ClientHello (padding extension) routes by its SNI', async () => {
    const { proxy, port } = await sniProxy();
    const hello = await paddedHello(10 * 1024, { servername: 'api.example.com' });
    expect(hello.length).toBe(10 * 1024);
    const before = servers.api.connections.length;
    const c = net.connect(port, '127.0.0.1');
    c.on('error', () => {});
    c.write(hello);
    await servers.api.waitFor((cs) => cs.length > before && cs.at(-1)?.hello?.sni === 'api.example.com', 5000);
    c.destroy();
    expect((await listenerStats(proxy)).tls.sni).toBe(1);
  });

  it('garbage with an absurd record length goes to the default route at once; nothing hangs', async () => {
    const { proxy, port } = await sniProxy({ timeouts: { inspectMs: 10_000 } }, 'plain');
    const before = servers.plain.connections.length;
    const c = net.connect(port, '127.0.0.1');
    c.on('error', () => {});
    const started = Date.now();
    c.write(Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0x00, 0x00, 0x10]));
    await servers.plain.waitFor((cs) => cs.length > before, 5000);
    expect(Date.now() - started).toBeLessThan(5000);
    c.destroy();
    expect((await listenerStats(proxy)).tls.malformed).toBe(1);
  });

  it('no route matches and there is no default: the connection is closed, counted', async () => {
    const port = await freePort();
    const proxy = await startProxy(
      {
        listeners: [{ name: 'tls', bind: `127.0.0.1:${port}`, mode: 'tcp', routes: [{ sni: 'api.example.com', pool: 'api' }] }],
        pools: { api: { servers: [servers.api.address] } },
      },
      cleanups,
    );
    await expect(ask(port, { servername: 'www.example.com' })).rejects.toThrow();
    expect((await listenerStats(proxy)).tls.noRoute).toBe(1);
  });

  it('a 64 MiB transfer after the handshake is mostly spliced', async () => {
    const { proxy, port } = await sniProxy();
    const socket = await tlsConnect(port, { ca: certs.ca, servername: 'api.example.com' });
    const r = await bulkDownload(socket, 64 * MiB);
    socket.destroy();
    expect(r.sha).toBe(r.serverSha);
    await sleep(50);
    const s = await listenerStats(proxy);
    expect(s.bytesOut).toBeGreaterThan(64 * MiB);
    expect(s.bytesSpliced).toBeGreaterThan(0.9 * 64 * MiB);
  });

  it('the select hook sees the SNI and ALPN, and may pick another pool', async () => {
    const seen: Array<{ sni?: string; alpn: string[] } | undefined> = [];
    const { port } = await sniProxy({
      select: (ctx) => {
        seen.push(ctx.tls);
        return ctx.tls?.sni === 'redirect.example.com' ? 'h2' : undefined;
      },
    });
    expect((await ask(port, { servername: 'redirect.example.com', alpn: ['h2', 'http/1.1'] })).reply).toMatchObject({ name: 'h2' });
    expect((await ask(port, { servername: 'foo.example.com' })).reply).toMatchObject({ name: 'www' });
    expect(seen[0]).toEqual({ sni: 'redirect.example.com', alpn: ['h2', 'http/1.1'] });
    expect(seen[1]).toEqual({ sni: 'foo.example.com', alpn: [] });
  });

  it('a consistent-hash pool on { hash: "host" } hashes the SNI in TCP mode', async () => {
    const port = await freePort();
    await startProxy(
      {
        listeners: [{ name: 'tls', bind: `127.0.0.1:${port}`, mode: 'tcp', routes: [{ sni: '*.example.com', pool: 'both' }] }],
        // Both present the wildcard certificate.
        pools: { both: { balance: { hash: 'host' }, servers: [servers.www.address, servers.h2.address] } },
      },
      cleanups,
    );
    for (const name of ['a.example.com', 'b.example.com', 'c.example.com']) {
      const first = (await ask(port, { servername: name })).reply['name'];
      for (let i = 0; i < 3; i++) expect((await ask(port, { servername: name })).reply['name']).toBe(first);
    }
  });
});
