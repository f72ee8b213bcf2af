/**
 * Peer servers: plain TCP or TLS line servers that parse a PROXY header (v1/v2) first when asked
 * (startProxyAwareServer, startTlsServer), record every connection (PeerConnection), and the
 * parser for their reply lines (parseReply).
 *
 * The servers' line protocol (one reply per line the client sends):
 *   any line    -> "name=<n> sni=<s|-> alpn=<a|-> client=<addr>:<port|-> peer=<addr>:<port> line=<the line>\n"
 *                  (client is the source from the PROXY header; IPv6 in brackets; "local" for a
 *                  v2 LOCAL header, "unknown" for v1 UNKNOWN, "-" with no PROXY parsing)
 *   bulk <N>    -> N random bytes, then "<sha256 hex of them>\n"
 *   upload <N>  -> reads the next N raw bytes, then "<sha256 hex of them>\n"
 *   quit        -> the server ends the connection
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as net from 'node:net';
import { Duplex } from 'node:stream';
import * as tls from 'node:tls';

import { certNameMatches, type Certs } from './certs.js';
import { parseClientHello, type ClientHelloInfo } from './client-hello.js';
import { readProxyHeader, type ProxyAccept, type ProxyHeader } from './proxy-header.js';
import { hostPort } from './tools.js';

export interface PeerConnection {
  id: number;
  /** The TCP peer (who connected to this server). */
  peer: { address: string; port: number };
  local: { address: string; port: number };
  /** The PROXY header parsed off the connection, when the server expects one. */
  proxy?: ProxyHeader;
  /** The ClientHello as seen on the wire, parsed by parseClientHello (TLS servers). */
  hello?: ClientHelloInfo;
  /** The SNI TLS saw: set by the SNI callback, then socket.servername (false when none). */
  sni?: string | false;
  /** The negotiated ALPN protocol once the handshake is done (false when none). */
  alpn?: string | false;
  /** Name of the certificate the server presented. */
  cert?: string;
  secure: boolean;
  lines: string[];
  error?: string;
  closed: boolean;
}

export interface PeerServer {
  name: string;
  host: string;
  port: number;
  /** host:port, IPv6 in brackets. */
  address: string;
  connections: PeerConnection[];
  /** Resolves once `pred(connections)` holds (checked on every change); rejects after `ms`. */
  waitFor(pred: (c: PeerConnection[]) => boolean, ms?: number): Promise<void>;
  close(): Promise<void>;
}

export interface ProxyAwareOptions {
  name: string;
  /** Expect a PROXY header first (v1, v2 or either); without it the server parses none. */
  proxyProtocol?: ProxyAccept;
  host?: string;
}

export interface TlsServerOptions extends ProxyAwareOptions {
  certs: Certs;
  /** Always present this certificate; without it, the one matching the SNI (else the first). */
  certName?: string;
  /** ALPN protocols offered; a client offering none of them gets a fatal no_application_protocol alert (node 20). */
  alpn?: string[];
}

/** A plain TCP line server that reads a PROXY header first (when `proxyProtocol` is set). */
export function startProxyAwareServer(opts: ProxyAwareOptions): Promise<PeerServer> {
  return startPeer(opts, undefined);
}

/** A TLS line server (see the file comment) that reads a PROXY header before the TLS bytes when asked. */
export function startTlsServer(opts: TlsServerOptions): Promise<PeerServer> {
  return startPeer(opts, opts);
}

async function startPeer(opts: ProxyAwareOptions, tlsOpts: TlsServerOptions | undefined): Promise<PeerServer> {
  const host = opts.host ?? '127.0.0.1';
  const connections: PeerConnection[] = [];
  const sockets = new Set<net.Socket>();
  const watchers = new Set<() => void>();
  const changed = () => {
    for (const w of [...watchers]) w();
  };
  const contexts = new Map<string, tls.SecureContext>();
  const contextFor = (name: string) => {
    let c = contexts.get(name);
    if (!c) {
      const leaf = tlsOpts?.certs.certs[name];
      if (!leaf) throw new Error(`no certificate named ${name}`);
      c = tls.createSecureContext({ key: leaf.key, cert: leaf.cert });
      contexts.set(name, c);
    }
    return c;
  };
  const pickCert = (sni: string | undefined): string => {
    if (!tlsOpts) return '';
    if (tlsOpts.certName) return tlsOpts.certName;
    const names = tlsOpts.certs.names;
    return (sni !== undefined ? names.find((n) => certNameMatches(n, sni)) : undefined) ?? names[0]!;
  };
  if (tlsOpts) {
    if (tlsOpts.certName && !tlsOpts.certs.certs[tlsOpts.certName]) throw new Error(`no certificate named ${tlsOpts.certName}`);
  }
  let nextId = 1;

  const server = net.createServer({ allowHalfOpen: true }, (raw) => {
    sockets.add(raw);
    raw.on('error', () => {});
    const rec: PeerConnection = {
      id: nextId++,
      peer: { address: raw.remoteAddress ?? '', port: raw.remotePort ?? 0 },
      local: { address: raw.localAddress ?? '', port: raw.localPort ?? 0 },
      secure: false,
      lines: [],
      closed: false,
    };
    connections.push(rec);
    raw.on('close', () => {
      sockets.delete(raw);
      rec.closed = true;
      changed();
    });
    changed();
    const fail = (e: unknown) => {
      rec.error ??= e instanceof Error ? e.message : String(e);
      changed();
      raw.destroy();
    };
    const afterHeader = (rest: Buffer) => {
      let helloBuf: Buffer | undefined = tlsOpts ? Buffer.alloc(0) : undefined;
      const tap = (c: Buffer) => {
        if (!helloBuf) return;
        helloBuf = Buffer.concat([helloBuf, c]);
        try {
          const info = parseClientHello(helloBuf);
          if (!info && helloBuf.length < 70_000) return;
          rec.hello = info;
        } catch {
          // not a ClientHello: TLS will fail and say why
        }
        helloBuf = undefined;
        changed();
      };
      const stream = new RewoundStream(raw, rest, tap);
      stream.on('error', () => {});
      if (!tlsOpts) {
        serveLines(stream, rec, () => lineFor(opts.name, rec, false), changed).catch(fail);
        return;
      }
      rec.cert = pickCert(undefined);
      const sock = new tls.TLSSocket(stream, {
        isServer: true,
        secureContext: contextFor(pickCert(undefined)),
        ...(tlsOpts.alpn ? { ALPNProtocols: tlsOpts.alpn } : {}),
        SNICallback: (servername, cb) => {
          rec.sni = servername;
          const name = pickCert(servername);
          rec.cert = name;
          changed();
          try {
            cb(null, contextFor(name));
          } catch (e) {
            cb(e instanceof Error ? e : new Error(String(e)));
          }
        },
      });
      sock.on('error', fail);
      sock.on('secure', () => {
        rec.secure = true;
        rec.sni = sock.servername ?? false;
        rec.alpn = sock.alpnProtocol ?? false;
        changed();
        serveLines(sock, rec, () => lineFor(opts.name, rec, true), changed).catch(fail);
      });
    };
    if (opts.proxyProtocol) {
      readProxyHeader(raw, opts.proxyProtocol).then(({ header, rest }) => {
        rec.proxy = header;
        changed();
        afterHeader(rest);
      }, fail);
    } else {
      raw.pause();
      afterHeader(Buffer.alloc(0));
    }
  });
  server.listen({ port: 0, host, backlog: 1024 });
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    name: opts.name,
    host,
    port,
    address: hostPort(host, port),
    connections,
    waitFor(pred, ms = 5000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!pred(connections)) return;
          clearTimeout(timer);
          watchers.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          watchers.delete(check);
          reject(new Error(`${opts.name}: condition not met within ${ms} ms; connections: ${describeConnections(connections)}`));
        }, ms);
        watchers.add(check);
        check();
      });
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function describeConnections(cs: PeerConnection[]): string {
  return JSON.stringify(
    cs.map((c) => ({ id: c.id, peer: c.peer, proxy: c.proxy && { ...c.proxy, raw: c.proxy.raw.toString('hex') }, sni: c.sni, alpn: c.alpn, secure: c.secure, error: c.error })),
  );
}

function lineFor(name: string, rec: PeerConnection, isTls: boolean): string {
  const sni = isTls && rec.sni ? rec.sni : '-';
  const alpn = isTls && rec.alpn ? rec.alpn : '-';
  let client = '-';
  const p = rec.proxy;
  if (p) {
    if (p.local) client = 'local';
    else if (p.family === 'UNKNOWN') client = 'unknown';
    else if (p.srcAddr !== undefined) client = p.srcPort !== undefined ? hostPort(p.srcAddr, p.srcPort) : p.srcAddr;
  }
  return `name=${name} sni=${sni} alpn=${alpn} client=${client} peer=${hostPort(rec.peer.address, rec.peer.port)}`;
}

/** Parses a server reply line into its fields (`line` holds the echoed line, spaces and all). */
export function parseReply(reply: string): Record<string, string> {
  const out: Record<string, string> = {};
  const at = reply.indexOf(' line=');
  const head = at >= 0 ? reply.slice(0, at) : reply;
  if (at >= 0) out['line'] = reply.slice(at + 6);
  for (const part of head.split(' ')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

async function writeAll(stream: Duplex, data: Buffer): Promise<void> {
  if (!stream.write(data)) await once(stream, 'drain');
}

/** The line protocol over any duplex (TLS socket or rewound raw socket). */
async function serveLines(stream: Duplex, rec: PeerConnection, status: () => string, changed: () => void): Promise<void> {
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let buf: Buffer = Buffer.alloc(0);
  // A peer that goes away (reset, or a destroy that aborts the iterator) ends the session.
  const more = async (): Promise<boolean> => {
    let r: IteratorResult<Buffer>;
    try {
      r = await it.next();
    } catch {
      return false;
    }
    if (r.done) return false;
    buf = buf.length ? Buffer.concat([buf, r.value]) : r.value;
    return true;
  };
  for (;;) {
    let nl: number;
    while ((nl = buf.indexOf(10)) < 0) {
      if (!(await more())) {
        stream.end();
        return;
      }
    }
    const line = buf.subarray(0, nl).toString('utf8').replace(/\r$/, '');
    buf = buf.subarray(nl + 1);
    rec.lines.push(line);
    changed();
    const bulk = /^bulk (\d+)$/.exec(line);
    const upload = /^upload (\d+)$/.exec(line);
    if (bulk) {
      const hash = createHash('sha256');
      let left = Number(bulk[1]);
      while (left > 0) {
        const piece = randomBytes(Math.min(256 * 1024, left));
        hash.update(piece);
        left -= piece.length;
        await writeAll(stream, piece);
      }
      await writeAll(stream, Buffer.from(`${hash.digest('hex')}\n`));
    } else if (upload) {
      const hash = createHash('sha256');
      let left = Number(upload[1]);
      for (;;) {
        const take = Math.min(left, buf.length);
        hash.update(buf.subarray(0, take));
        buf = buf.subarray(take);
        left -= take;
        if (left === 0) break;
        if (!(await more())) {
          stream.end();
          return;
        }
      }
      await writeAll(stream, Buffer.from(`${hash.digest('hex')}\n`));
    } else if (line === 'quit') {
      stream.end();
      return;
    } else {
      await writeAll(stream, Buffer.from(`${status()} line=${line}\n`));
    }
  }
}

/**
 * A Duplex over a raw socket that first delivers `head` (bytes already read off the socket).
 * node:tls over a net.Socket takes over its handle; that bytes unshift()ed back into the JS
 * buffer reach OpenSSL first is node-version behaviour (node 20.20 does it), so the TLS layer is
 * put on this stream instead, which does not depend on it; `onData` taps every byte (the hello).
 */
class RewoundStream extends Duplex {
  constructor(
    private readonly raw: net.Socket,
    head: Buffer,
    onData: (chunk: Buffer) => void,
  ) {
    super({ allowHalfOpen: true });
    if (head.length > 0) {
      onData(head);
      this.push(head);
    }
    raw.on('data', (c: Buffer) => {
      onData(c);
      if (!this.push(c)) raw.pause();
    });
    raw.on('end', () => this.push(null));
    raw.on('error', (e) => this.destroy(e));
    raw.on('close', () => this.destroy());
  }
  override _read(): void {
    this.raw.resume();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.raw.write(chunk, cb);
  }
  override _final(cb: (e?: Error | null) => void): void {
    this.raw.end();
    cb();
  }
  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    this.raw.destroy();
    cb(err);
  }
}
