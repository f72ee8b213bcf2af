/**
 * Self-test of the peers in tls-peers.ts and peer-procs.ts, WITHOUT epoxy: real nginx, haproxy,
 * openssl and node:tls talking to each other, so that a later failure against the proxy is the
 * proxy's and not the peers'.
 */
import * as net from 'node:net';
import * as os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { sleep } from './helpers.js';
import {
  PEER_TOOLS,
  ensureTools,
  httpGet,
  peerPids,
  pidAlive,
  startHaproxyAcceptProxy,
  startHaproxySendProxy,
  startNginxProxyProtocol,
  stopAllPeers,
  tcpRead,
  type PeerProcess,
} from './peer-procs.js';
import {
  PP2_TYPE,
  ProxyHeaderError,
  buildProxyHeader,
  bulkDownload,
  bulkUpload,
  captureClientHello,
  makeCerts,
  opensslClient,
  padHello,
  paddedHello,
  parseClientHello,
  parseProxyHeader,
  parseRecords,
  parseReply,
  plainRequest,
  rawClientHello,
  splitIntoRecords,
  startDribbleRelay,
  startProxyAwareServer,
  startTlsServer,
  tlsConnect,
  tlsRequest,
  type Certs,
  type DribbleRelay,
  type PeerServer,
} from './tls-peers.js';

const NAMES = ['api.example.com', '*.example.com', 'other.test'];
const MiB = 1024 * 1024;

const hasIPv6Loopback = Object.values(os.networkInterfaces()).some((list) => list?.some((a) => a.family === 'IPv6' && a.address === '::1'));

let certs: Certs;
const closers: Array<() => Promise<void>> = [];
function track<T extends PeerServer | DribbleRelay>(x: T): T {
  closers.push(() => x.close());
  return x;
}

beforeAll(async () => {
  // The first run on a fresh machine may install packages (apt-get).
  ensureTools(Object.values(PEER_TOOLS));
  certs = await makeCerts(NAMES);
}, 300_000);

afterAll(async () => {
  await stopAllPeers();
  for (const close of closers) await close();
  const started = peerPids();
  expect(started.length).toBeGreaterThan(0);
  expect(started.filter(pidAlive)).toEqual([]);
});

describe('PROXY header parser and builder (pure)', () => {
  it('round-trips v1 and v2 for TCP4, TCP6, UNKNOWN/LOCAL, with TLVs and CRC32C', () => {
    const v1 = buildProxyHeader({ version: 1, srcAddr: '10.1.2.3', srcPort: 4567, dstAddr: '10.9.8.7', dstPort: 443 });
    expect(v1.toString()).toBe('PROXY TCP4 10.1.2.3 10.9.8.7 4567 443\r\n');
    expect(parseProxyHeader(v1)).toMatchObject({ version: 1, family: 'TCP4', srcAddr: '10.1.2.3', srcPort: 4567, dstAddr: '10.9.8.7', dstPort: 443, headerBytes: v1.length });
    const v1six = buildProxyHeader({ version: 1, srcAddr: '2001:db8::1', srcPort: 1, dstAddr: '::1', dstPort: 2 });
    expect(parseProxyHeader(v1six)).toMatchObject({ family: 'TCP6', srcAddr: '2001:db8::1', dstAddr: '::1' });
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN ignored stuff\r\nrest'))).toMatchObject({ version: 1, family: 'UNKNOWN', headerBytes: 29 });

    const v2 = buildProxyHeader({
      version: 2,
      srcAddr: '2001:db8:0:0:1:0:0:1',
      srcPort: 65535,
      dstAddr: '::ffff:192.0.2.1',
      dstPort: 8443,
      tlvs: [
        { type: PP2_TYPE.ALPN, value: Buffer.from('h2') },
        { type: PP2_TYPE.AUTHORITY, value: Buffer.from('api.example.com') },
      ],
      crc32c: true,
    });
    const h2 = parseProxyHeader(Buffer.concat([v2, Buffer.from('after')]), 'v2');
    expect(h2).toMatchObject({
      version: 2,
      local: false,
      family: 'TCP6',
      srcAddr: '2001:db8::1:0:0:1',
      srcPort: 65535,
      dstAddr: '::ffff:192.0.2.1',
      dstPort: 8443,
      headerBytes: v2.length,
      tlvs: { alpn: 'h2', authority: 'api.example.com', crc32cValid: true },
    });
    const corrupted = Buffer.from(v2);
    corrupted[20] = corrupted[20]! ^ 1;
    expect(parseProxyHeader(corrupted)?.tlvs.crc32cValid).toBe(false);
    const local = parseProxyHeader(buildProxyHeader({ version: 2, command: 'local' }));
    expect(local).toMatchObject({ version: 2, local: true, family: 'UNSPEC', headerBytes: 16 });
    expect(local?.srcAddr).toBeUndefined();
  });

  it('asks for more bytes until a header is complete, and rejects what is not one', () => {
    for (const h of [buildProxyHeader({ version: 1, srcAddr: '1.2.3.4', srcPort: 5, dstAddr: '6.7.8.9', dstPort: 10 }), buildProxyHeader({ version: 2, srcAddr: '1.2.3.4', srcPort: 5, dstAddr: '6.7.8.9', dstPort: 10 })]) {
      for (let i = 1; i < h.length; i++) expect(parseProxyHeader(h.subarray(0, i))).toBeUndefined();
      expect(parseProxyHeader(h)?.srcPort).toBe(5);
    }
    const v2 = buildProxyHeader({ version: 2, srcAddr: '1.2.3.4', srcPort: 5, dstAddr: '6.7.8.9', dstPort: 10 });
    expect(() => parseProxyHeader(v2, 'v1')).toThrow(ProxyHeaderError);
    expect(() => parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), 'v2')).toThrow(/expected a PROXY v2/);
    expect(() => parseProxyHeader(Buffer.from('GET / HTTP/1.1\r\n'))).toThrow(/no PROXY header/);
    expect(() => parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 ::1 1 2\r\n'))).toThrow(/bad TCP4 address/);
    expect(() => parseProxyHeader(Buffer.from(`PROXY TCP4 ${'9'.repeat(120)}`))).toThrow(/longer than 107/);
  });
});

describe('haproxy send-proxy -> nginx proxy_protocol', () => {
  let nginx: PeerProcess;
  beforeAll(async () => {
    nginx = await startNginxProxyProtocol({ http: true, stream: true, tls: certs });
  });

  for (const version of ['v1', 'v2'] as const) {
    it(`${version}: nginx http and stream answer the client's own address and port`, async () => {
      const toHttp = await startHaproxySendProxy({ targetPort: nginx.ports['http']!, version });
      const toStream = await startHaproxySendProxy({ targetPort: nginx.ports['stream']!, version });
      try {
        const r = await httpGet(toHttp.ports['frontend']!);
        expect(r.status).toBe(200);
        expect(r.body).toBe(`addr=127.0.0.1 port=${r.localPort}\n`);
        const s = await tcpRead(toStream.ports['frontend']!);
        expect(s.text).toBe(`addr=127.0.0.1 port=${s.localPort}\n`);
      } finally {
        await toHttp.stop();
        await toStream.stop();
      }
      expect(pidAlive(toHttp.pid)).toBe(false);
    });
  }

  it('v2 in front of nginx ssl proxy_protocol: TLS passes through haproxy, nginx sees SNI, ALPN and the client', async () => {
    const lb = await startHaproxySendProxy({ targetPort: nginx.ports['https']!, version: 'v2' });
    try {
      const r = await httpGet(lb.ports['frontend']!, { tls: { ca: certs.ca, servername: 'api.example.com', alpn: ['http/1.1'] } });
      expect(r.body).toBe(`addr=127.0.0.1 port=${r.localPort} sni=api.example.com alpn=http/1.1\n`);
    } finally {
      await lb.stop();
    }
  });

  it('nginx without a PROXY header in front refuses the request', async () => {
    await expect(httpGet(nginx.ports['http']!)).rejects.toThrow();
  });
});

describe('haproxy send-proxy-v2 -> haproxy accept-proxy', () => {
  it("answers the client's own address and port", async () => {
    const backend = await startHaproxyAcceptProxy();
    const lb = await startHaproxySendProxy({ targetPort: backend.ports['frontend']!, version: 'v2' });
    const r = await httpGet(lb.ports['frontend']!);
    expect(r.status).toBe(200);
    expect(r.body).toBe(`addr=127.0.0.1 port=${r.localPort}\n`);
    await lb.stop();
    await backend.stop();
  });
});

describe('haproxy send-proxy -> the TS peers', () => {
  it('v1 and v2 -> startProxyAwareServer: records the version and the client port', async () => {
    for (const version of ['v1', 'v2'] as const) {
      const server = track(await startProxyAwareServer({ name: `plain-${version}`, proxyProtocol: version }));
      const lb = await startHaproxySendProxy({ targetPort: server.port, version });
      const r = await plainRequest(lb.ports['frontend']!, { line: 'ping' });
      expect(parseReply(r.line)).toMatchObject({ name: `plain-${version}`, sni: '-', client: `127.0.0.1:${r.localPort}`, line: 'ping' });
      const [conn] = server.connections;
      expect(conn?.proxy).toMatchObject({
        version: version === 'v1' ? 1 : 2,
        local: false,
        family: 'TCP4',
        srcAddr: '127.0.0.1',
        srcPort: r.localPort,
        dstAddr: '127.0.0.1',
        dstPort: lb.ports['frontend'],
      });
      await lb.stop();
    }
  });

  it('v2 with proxy-v2-options crc32c,unique-id: the TLVs parse and the CRC matches', async () => {
    const server = track(await startProxyAwareServer({ name: 'tlv', proxyProtocol: 'v2' }));
    const lb = await startHaproxySendProxy({ targetPort: server.port, version: 'v2', v2Options: ['crc32c', 'unique-id'] });
    const r = await plainRequest(lb.ports['frontend']!);
    const p = server.connections[0]?.proxy;
    expect(p?.tlvs.crc32cValid).toBe(true);
    expect(p?.tlvs.uniqueId?.toString()).toContain(`127.0.0.1:${r.localPort}`);
    await lb.stop();
  });

  it('v2 -> startTlsServer: a real handshake with SNI api.example.com and ALPN h2 behind the header', async () => {
    const server = track(await startTlsServer({ name: 'tls-v2', certs, alpn: ['h2', 'http/1.1'], proxyProtocol: 'v2' }));
    const lb = await startHaproxySendProxy({ targetPort: server.port, version: 'v2' });
    const r = await tlsRequest(lb.ports['frontend']!, { ca: certs.ca, servername: 'api.example.com', alpn: ['h2'] });
    expect(r.alpn).toBe('h2');
    expect(parseReply(r.line)).toMatchObject({ name: 'tls-v2', sni: 'api.example.com', alpn: 'h2', client: `127.0.0.1:${r.localPort}` });
    expect(server.connections[0]).toMatchObject({
      proxy: { version: 2, srcPort: r.localPort },
      sni: 'api.example.com',
      alpn: 'h2',
      cert: 'api.example.com',
      secure: true,
      hello: { sni: 'api.example.com', alpn: ['h2'] },
    });
    await lb.stop();
  });

  it('a server expecting v1 drops a v2 header and says why', async () => {
    const server = track(await startProxyAwareServer({ name: 'wants-v1', proxyProtocol: 'v1' }));
    const lb = await startHaproxySendProxy({ targetPort: server.port, version: 'v2' });
    const r = await plainRequest(lb.ports['frontend']!).catch((e: unknown) => ({ line: String(e) }));
    expect(r.line).toBe('');
    await server.waitFor((cs) => cs.some((c) => c.error !== undefined));
    expect(server.connections[0]?.error).toMatch(/expected a PROXY v1 header, got v2/);
    await lb.stop();
  });
});

describe('TLS clients against startTlsServer (no PROXY)', () => {
  let server: PeerServer;
  beforeAll(async () => {
    server = track(await startTlsServer({ name: 'direct', certs, alpn: ['h2', 'http/1.1'] }));
  });

  it('tlsRequest with SNI picks the matching certificate (wildcard too) and negotiates ALPN', async () => {
    const a = await tlsRequest(server.port, { ca: certs.ca, servername: 'api.example.com', alpn: ['h2'] });
    expect(parseReply(a.line)).toMatchObject({ name: 'direct', sni: 'api.example.com', alpn: 'h2', client: '-', peer: `127.0.0.1:${a.localPort}` });
    const w = await tlsRequest(server.port, { ca: certs.ca, servername: 'www.example.com', alpn: ['http/1.1'], line: 'two words' });
    expect(parseReply(w.line)).toMatchObject({ sni: 'www.example.com', alpn: 'http/1.1', line: 'two words' });
    const byPeer = (port: number) => server.connections.find((c) => c.peer.port === port);
    expect(byPeer(w.localPort)?.cert).toBe('*.example.com');
    // Certificate checking is on: a name no certificate covers fails.
    await expect(tlsRequest(server.port, { ca: certs.ca, servername: 'nope.invalid' })).rejects.toThrow(/altnames|Hostname/i);
  });

  it('tlsRequest without servername sends no SNI extension (captured) and the server sees servername false', async () => {
    const withNone = parseClientHello(await captureClientHello((port) => tlsRequest(port, { ca: certs.ca, timeoutMs: 2000 })));
    expect(withNone?.extensions).not.toContain(0);
    expect(withNone?.sni).toBeUndefined();
    const withSni = parseClientHello(await captureClientHello((port) => tlsRequest(port, { ca: certs.ca, servername: 'api.example.com', timeoutMs: 2000 })));
    expect(withSni?.sni).toBe('api.example.com');

    const r = await tlsRequest(server.port, { ca: certs.ca, verifyName: 'api.example.com' });
    expect(parseReply(r.line)).toMatchObject({ sni: '-', alpn: '-' });
    const conn = server.connections.find((c) => c.peer.port === r.localPort);
    expect(conn?.sni).toBe(false);
    expect(conn?.hello?.sni).toBeUndefined();
    expect(conn?.cert).toBe('api.example.com');
  });

  it('opensslClient with and without -servername', async () => {
    const a = await opensslClient(server.port, { caFile: certs.caFile, servername: 'api.example.com', alpn: ['h2'], line: 'from openssl' });
    expect(parseReply(a.line)).toMatchObject({ sni: 'api.example.com', alpn: 'h2', line: 'from openssl' });
    const b = await opensslClient(server.port, { caFile: certs.caFile, line: 'no sni' });
    expect(parseReply(b.line)).toMatchObject({ sni: '-', line: 'no sni' });
    expect(server.connections.filter((c) => c.lines.includes('no sni')).map((c) => c.sni)).toEqual([false]);
    // -verify_hostname is on: a certificate for another name fails.
    await expect(opensslClient(server.port, { caFile: certs.caFile, servername: 'nope.invalid', line: 'x' })).rejects.toThrow(/exited|no reply/);
  });

  it('moves 64 MiB each way after the handshake (bulk / upload)', async () => {
    const socket = await tlsConnect(server.port, { ca: certs.ca, servername: 'api.example.com' });
    try {
      const down = await bulkDownload(socket, 64 * MiB);
      expect(down.received).toBe(64 * MiB);
      expect(down.sha).toBe(down.serverSha);
      const up = await bulkUpload(socket, 64 * MiB);
      expect(up.serverSha).toBe(up.sentSha);
    } finally {
      socket.destroy();
    }
  });
});

describe('fragmented ClientHellos', () => {
  /** A plain server that records each read's size and all the bytes (what arrives after a relay). */
  async function captureReads(): Promise<{ port: number; reads: number[]; bytes: () => Buffer; close: () => Promise<void> }> {
    const reads: number[] = [];
    const chunks: Buffer[] = [];
    const sockets = new Set<net.Socket>();
    const server = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
      s.on('data', (c: Buffer) => {
        reads.push(c.length);
        chunks.push(c);
      });
    });
    server.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const { port } = server.address() as net.AddressInfo;
    return {
      port,
      reads,
      bytes: () => Buffer.concat(chunks),
      close: () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          server.close(() => resolve());
        }),
    };
  }

  for (const mode of ['bytewise', 'two-records'] as const) {
    it(`${mode}: a real handshake completes through startDribbleRelay, and the hello really is fragmented`, async () => {
      const server = track(await startTlsServer({ name: `behind-${mode}`, certs, alpn: ['h2'] }));
      const relay = track(await startDribbleRelay(server.port, mode));
      const r = await tlsRequest(relay.port, { ca: certs.ca, servername: 'api.example.com', alpn: ['h2'] });
      expect(parseReply(r.line)).toMatchObject({ name: `behind-${mode}`, sni: 'api.example.com', alpn: 'h2' });
      const [st] = relay.stats;
      expect(st).toBeDefined();
      if (mode === 'bytewise') {
        expect(st!.writes).toBe(st!.firstRecordBytes);
        expect(st!.firstRecordBytes).toBeGreaterThan(200);
      } else {
        expect(st!.writes).toBe(2);
        expect(st!.records).toHaveLength(2);
        expect(st!.records[0]! + st!.records[1]!).toBe(st!.firstRecordBytes + 5);
      }
      // The server's own view of the raw hello: one record or two.
      expect(server.connections[0]?.hello).toMatchObject({ sni: 'api.example.com', records: mode === 'two-records' ? 2 : 1 });

      // What a receiver sees after the relay: many reads (bytewise) or two well-formed records.
      const cap = await captureReads();
      const capRelay = track(await startDribbleRelay(cap.port, mode));
      const hello = await rawClientHello({ servername: 'api.example.com' });
      const client = net.connect(capRelay.port, '127.0.0.1');
      client.on('error', () => {});
      client.write(hello);
      for (let i = 0; i < 200 && cap.bytes().length < hello.length + (mode === 'two-records' ? 5 : 0); i++) await sleep(10);
      client.destroy();
      const got = cap.bytes();
      if (mode === 'bytewise') {
        expect(got.equals(hello)).toBe(true);
        expect(cap.reads.length).toBeGreaterThan(hello.length / 4);
      } else {
        const { records, rest } = parseRecords(got);
        expect(rest.length).toBe(0);
        expect(records).toHaveLength(2);
        expect(got.equals(splitIntoRecords(hello, [Math.floor((hello.length - 5) / 2)]))).toBe(true);
        expect(parseClientHello(got)).toMatchObject({ sni: 'api.example.com', records: 2 });
      }
      await cap.close();
    });
  }

  it('a PROXY v2 header in the same write as the hello (and dribbled bytewise) reaches the TLS layer intact', async () => {
    const server = track(await startTlsServer({ name: 'pp-tls', certs, proxyProtocol: 'v2' }));
    const prefix = (c: net.Socket) =>
      buildProxyHeader({ version: 2, srcAddr: '203.0.113.7', srcPort: c.remotePort ?? 0, dstAddr: '198.51.100.1', dstPort: 443 });
    for (const mode of ['passthrough', 'bytewise'] as const) {
      const relay = track(await startDribbleRelay(server.port, mode, { prefix }));
      const r = await tlsRequest(relay.port, { ca: certs.ca, servername: 'api.example.com' });
      expect(parseReply(r.line)).toMatchObject({ name: 'pp-tls', sni: 'api.example.com', client: `203.0.113.7:${r.localPort}` });
      expect(relay.stats[0]?.prefixBytes).toBe(28);
    }
  });

  it('splitIntoRecords and padHello produce hellos OpenSSL accepts (replayed: the SNI reaches the server)', async () => {
    const hello = await rawClientHello({ servername: 'api.example.com', alpn: ['h2'] });
    const info = parseClientHello(hello)!;
    const split = splitIntoRecords(hello, [1, 40]);
    expect(parseRecords(split).records.map((r) => r.fragment.length)).toEqual([1, 40, info.messageBytes - 41]);
    expect(parseClientHello(split)).toMatchObject({ sni: 'api.example.com', alpn: ['h2'], records: 3 });

    const padded = padHello(hello, 1500);
    expect(padded.length).toBe(1500);
    const pInfo = parseClientHello(padded)!;
    expect(pInfo).toMatchObject({ sni: 'api.example.com', alpn: ['h2'], messageBytes: 1495, records: 1 });
    expect(pInfo.extensions.at(-1)).toBe(21);
    expect(() => padHello(hello, hello.length)).toThrow(/already/);
    const captured = await paddedHello(600, { servername: 'other.test' });
    expect(captured.length).toBe(600);
    expect(parseClientHello(captured)).toMatchObject({ sni: 'other.test', messageBytes: 595 });

    // A hello larger than one record, legally framed over two.
    const big = splitIntoRecords(padHello(hello, 20_005), [16384]);
    expect(parseClientHello(big)).toMatchObject({ messageBytes: 20_000, records: 2 });

    // Replays: OpenSSL parses each one far enough to call the SNI callback (the handshake itself can't finish).
    const server = track(await startTlsServer({ name: 'replay', certs }));
    const variants: Array<[string, Buffer, boolean]> = [
      ['split', split, false],
      ['padded', padded, false],
      ['big', big, false],
      ['bytewise', hello, true],
    ];
    for (const [label, bytes, bytewise] of variants) {
      const s = net.connect(server.port, '127.0.0.1');
      s.on('error', () => {});
      s.setNoDelay(true);
      await new Promise((r) => s.once('connect', r));
      if (bytewise) {
        for (let i = 0; i < bytes.length; i++) {
          s.write(bytes.subarray(i, i + 1));
          await new Promise((r) => setImmediate(r));
        }
      } else {
        s.write(bytes);
      }
      const n = server.connections.length;
      await server.waitFor((cs) => cs.length === n && cs[n - 1]?.sni === 'api.example.com', 3000).catch((e: unknown) => {
        throw new Error(`${label}: ${String(e)}`);
      });
      expect(server.connections[n - 1]?.hello?.sni, label).toBe('api.example.com');
      s.destroy();
    }
  });
});

describe.skipIf(!hasIPv6Loopback)('IPv6 (::1)', () => {
  it('haproxy send-proxy v1 and v2 on [::1] -> nginx on [::1] (and v2 -> haproxy accept-proxy) answers addr=::1 and the client port', async () => {
    const nginx = await startNginxProxyProtocol({ http: true, host: '::1' });
    for (const version of ['v1', 'v2'] as const) {
      const lb = await startHaproxySendProxy({ targetPort: nginx.ports['http']!, targetHost: '::1', host: '::1', version });
      const r = await httpGet(lb.ports['frontend']!, { host: '::1' });
      expect(r.localAddress).toBe('::1');
      expect(r.body).toBe(`addr=::1 port=${r.localPort}\n`);
      await lb.stop();
    }
    await nginx.stop();
    const backend = await startHaproxyAcceptProxy({ host: '::1' });
    const lb = await startHaproxySendProxy({ targetPort: backend.ports['frontend']!, targetHost: '::1', host: '::1', version: 'v2' });
    const r = await httpGet(lb.ports['frontend']!, { host: '::1' });
    expect(r.body).toBe(`addr=::1 port=${r.localPort}\n`);
    await lb.stop();
    await backend.stop();
  });

  it('haproxy send-proxy-v2 on [::1] -> startProxyAwareServer on [::1]: a TCP6 header', async () => {
    const server = track(await startProxyAwareServer({ name: 'six', host: '::1', proxyProtocol: 'v2' }));
    const lb = await startHaproxySendProxy({ targetPort: server.port, targetHost: '::1', host: '::1', version: 'v2' });
    const r = await plainRequest(lb.ports['frontend']!, { host: '::1' });
    expect(parseReply(r.line).client).toBe(`[::1]:${r.localPort}`);
    expect(server.connections[0]?.proxy).toMatchObject({ version: 2, family: 'TCP6', srcAddr: '::1', srcPort: r.localPort, dstAddr: '::1', dstPort: lb.ports['frontend'] });
    await lb.stop();
  });
});

if (!hasIPv6Loopback) {
  describe('IPv6 (::1)', () => {
    it.skip('skipped: ::1 is not configured on this machine (os.networkInterfaces())', () => {});
  });
}
