/**
 * TLS records and ClientHellos: record splitting/framing, a ClientHello parser (SNI, ALPN,
 * extensions), capturing a real ClientHello from a client (captureClientHello, rawClientHello),
 * and rewriting it (splitIntoRecords, padHello, paddedHello).
 */
import { once } from 'node:events';
import * as net from 'node:net';
import * as tls from 'node:tls';

import { withTimeout } from './tools.js';

export interface TlsRecord {
  type: number;
  version: number;
  fragment: Buffer;
}

/** Splits bytes into TLS records; `rest` is an incomplete trailing record (or non-TLS bytes). */
export function parseRecords(buf: Buffer): { records: TlsRecord[]; rest: Buffer } {
  const records: TlsRecord[] = [];
  let off = 0;
  while (off + 5 <= buf.length) {
    const len = buf.readUInt16BE(off + 3);
    if (off + 5 + len > buf.length) break;
    records.push({ type: buf[off]!, version: buf.readUInt16BE(off + 1), fragment: Buffer.from(buf.subarray(off + 5, off + 5 + len)) });
    off += 5 + len;
  }
  return { records, rest: Buffer.from(buf.subarray(off)) };
}

function frameRecord(type: number, version: number, fragment: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h[0] = type;
  h.writeUInt16BE(version, 1);
  h.writeUInt16BE(fragment.length, 3);
  return Buffer.concat([h, fragment]);
}

/** The handshake bytes of the leading handshake records (type 22), and the record version. */
function handshakeBytes(hello: Buffer): { hs: Buffer; version: number; records: number } {
  const { records } = parseRecords(hello);
  const hsRecords: TlsRecord[] = [];
  for (const r of records) {
    if (r.type !== 22) break;
    hsRecords.push(r);
  }
  if (hsRecords.length === 0) throw new Error('not a TLS handshake record');
  return { hs: Buffer.concat(hsRecords.map((r) => r.fragment)), version: hsRecords[0]!.version, records: hsRecords.length };
}

export interface ClientHelloInfo {
  /** legacy_version of the ClientHello body (0x0303 for TLS 1.2 and 1.3). */
  version: number;
  sni?: string;
  alpn?: string[];
  /** Extension types in order. */
  extensions: number[];
  /** Length of the handshake message (4-byte header included). */
  messageBytes: number;
  /** TLS records the message spans. */
  records: number;
}

/**
 * Parses a ClientHello from TLS records (it may span several). Returns undefined while more
 * bytes are needed; throws if the bytes are not a ClientHello.
 */
export function parseClientHello(buf: Buffer): ClientHelloInfo | undefined {
  if (buf.length === 0) return undefined;
  if (buf[0] !== 22) throw new Error(`not a TLS handshake record (type ${buf[0]})`);
  const { records } = parseRecords(buf);
  const frags: Buffer[] = [];
  for (const r of records) {
    if (r.type !== 22) throw new Error('non-handshake record inside the ClientHello');
    frags.push(r.fragment);
  }
  const hs = Buffer.concat(frags);
  if (hs.length < 4) return undefined;
  if (hs[0] !== 1) throw new Error(`handshake type ${hs[0]} is not a ClientHello`);
  const len = hs.readUIntBE(1, 3);
  if (hs.length < 4 + len) return undefined;
  const body = hs.subarray(4, 4 + len);
  let off = 0;
  const need = (n: number) => {
    if (off + n > body.length) throw new Error('truncated ClientHello');
  };
  need(2 + 32 + 1);
  const version = body.readUInt16BE(0);
  off = 34;
  off += 1 + body[34]!; // session id
  need(2);
  off += 2 + body.readUInt16BE(off); // cipher suites
  need(1);
  off += 1 + body[off]!; // compression methods
  const info: ClientHelloInfo = { version, extensions: [], messageBytes: 4 + len, records: frags.length };
  if (off === body.length) return info;
  need(2);
  const extEnd = off + 2 + body.readUInt16BE(off);
  off += 2;
  if (extEnd > body.length) throw new Error('extensions overrun the ClientHello');
  while (off < extEnd) {
    need(4);
    const type = body.readUInt16BE(off);
    const elen = body.readUInt16BE(off + 2);
    off += 4;
    need(elen);
    const data = body.subarray(off, off + elen);
    info.extensions.push(type);
    if (type === 0 && data.length >= 2) {
      let p = 2;
      while (p + 3 <= data.length) {
        const nlen = data.readUInt16BE(p + 1);
        if (data[p] === 0) info.sni = data.subarray(p + 3, p + 3 + nlen).toString('latin1');
        p += 3 + nlen;
      }
    } else if (type === 16 && data.length >= 2) {
      const list: string[] = [];
      let p = 2;
      while (p < data.length) {
        const l = data[p]!;
        list.push(data.subarray(p + 1, p + 1 + l).toString('latin1'));
        p += 1 + l;
      }
      info.alpn = list;
    }
    off += elen;
  }
  return info;
}

export interface HelloOptions {
  servername?: string;
  alpn?: string[];
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
}

/**
 * Runs `connect(port)` against a local net.Server that records what the client sends until a
 * complete ClientHello has arrived (one or more records), then closes the connection; resolves
 * with exactly the records of the hello. `connect` may fail: only the captured bytes matter.
 */
export async function captureClientHello(connect: (port: number) => unknown, timeoutMs = 5000): Promise<Buffer> {
  let resolveHello!: (b: Buffer) => void;
  let rejectHello!: (e: Error) => void;
  const got = new Promise<Buffer>((res, rej) => {
    resolveHello = res;
    rejectHello = rej;
  });
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    let buf = Buffer.alloc(0);
    s.on('error', () => {});
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      try {
        const info = parseClientHello(buf);
        if (!info) return;
        const { records } = parseRecords(buf);
        const n = records.slice(0, info.records).reduce((a, r) => a + 5 + r.fragment.length, 0);
        resolveHello(Buffer.from(buf.subarray(0, n)));
      } catch (e) {
        rejectHello(e instanceof Error ? e : new Error(String(e)));
      }
      s.destroy();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  try {
    const attempt = Promise.resolve()
      .then(() => connect(port))
      .catch(() => {});
    const hello = await withTimeout(got, timeoutMs, 'captureClientHello: no ClientHello captured');
    await attempt;
    return hello;
  } finally {
    for (const s of sockets) s.destroy();
    server.close();
  }
}

/**
 * The bytes of a real ClientHello from node:tls (see captureClientHello). Replaying it cannot
 * complete a handshake (the client's key share is gone), but shows which server gets it.
 */
export function rawClientHello(opts: HelloOptions = {}): Promise<Buffer> {
  return captureClientHello(
    (port) =>
      new Promise<void>((resolve) => {
        const client = tls.connect({
          host: '127.0.0.1',
          port,
          rejectUnauthorized: false,
          ...(opts.servername !== undefined ? { servername: opts.servername } : {}),
          ...(opts.alpn ? { ALPNProtocols: opts.alpn } : {}),
          ...(opts.minVersion ? { minVersion: opts.minVersion } : {}),
          ...(opts.maxVersion ? { maxVersion: opts.maxVersion } : {}),
        });
        client.on('error', () => {});
        client.on('close', () => resolve());
      }),
  );
}

/**
 * Re-frames the handshake bytes of `hello` (one or more handshake records) into records whose
 * fragments have the given sizes, each with its own 5-byte header (the original record version);
 * whatever is left goes into one last record. E.g. [10] gives a 10-byte record then the rest.
 */
export function splitIntoRecords(hello: Buffer, sizes: number[]): Buffer {
  const { hs, version } = handshakeBytes(hello);
  const out: Buffer[] = [];
  let off = 0;
  for (const size of sizes) {
    if (!Number.isInteger(size) || size <= 0 || size > 16384) throw new Error(`splitIntoRecords: bad size ${size}`);
    if (off >= hs.length) break;
    out.push(frameRecord(22, version, hs.subarray(off, off + size)));
    off += size;
  }
  if (off < hs.length) out.push(frameRecord(22, version, hs.subarray(off)));
  return Buffer.concat(out);
}

/**
 * Rewrites a ClientHello so that it is exactly `targetBytes` on the wire as ONE record (5-byte
 * header included), by adding a padding extension (type 21, zeros; RFC 7685) and fixing the
 * three lengths: the record's, the handshake message's (24-bit) and the extensions block's. An
 * existing padding extension is replaced; the new one goes before pre_shared_key (41), which
 * must stay last. Above 16,389 bytes the record is larger than TLS allows (2^14): re-frame it
 * with splitIntoRecords(h, [16384, 16384, ...]) for a legal multi-record hello.
 */
export function padHello(hello: Buffer, targetBytes: number): Buffer {
  const { hs, version } = handshakeBytes(hello);
  if (hs[0] !== 1) throw new Error('padHello: not a ClientHello');
  const body = hs.subarray(4, 4 + hs.readUIntBE(1, 3));
  let off = 34;
  off += 1 + body[off]!;
  off += 2 + body.readUInt16BE(off);
  off += 1 + body[off]!;
  const prefix = body.subarray(0, off);
  const exts: Array<{ type: number; bytes: Buffer }> = [];
  if (off < body.length) {
    const end = off + 2 + body.readUInt16BE(off);
    off += 2;
    while (off < end) {
      const type = body.readUInt16BE(off);
      const elen = body.readUInt16BE(off + 2);
      exts.push({ type, bytes: body.subarray(off, off + 4 + elen) });
      off += 4 + elen;
    }
  }
  const kept = exts.filter((e) => e.type !== 21);
  const keptBytes = kept.reduce((a, e) => a + e.bytes.length, 0);
  // record header 5 + handshake header 4 + prefix + extensions length 2 + extensions + padding header 4
  const padLen = targetBytes - (5 + 4 + prefix.length + 2 + keptBytes + 4);
  if (padLen < 0) throw new Error(`padHello: the hello is already ${targetBytes - padLen} bytes with an empty padding extension; want ${targetBytes}`);
  if (keptBytes + 4 + padLen > 0xffff || targetBytes - 5 > 0xffff) throw new Error(`padHello: ${targetBytes} bytes is more than the length fields hold`);
  const padding = Buffer.alloc(4 + padLen);
  padding.writeUInt16BE(21, 0);
  padding.writeUInt16BE(padLen, 2);
  const pskAt = kept.findIndex((e) => e.type === 41);
  const ordered = pskAt >= 0 ? [...kept.slice(0, pskAt).map((e) => e.bytes), padding, ...kept.slice(pskAt).map((e) => e.bytes)] : [...kept.map((e) => e.bytes), padding];
  const extBlock = Buffer.concat(ordered);
  const extLen = Buffer.alloc(2);
  extLen.writeUInt16BE(extBlock.length);
  const newBody = Buffer.concat([prefix, extLen, extBlock]);
  const hsHead = Buffer.alloc(4);
  hsHead[0] = 1;
  hsHead.writeUIntBE(newBody.length, 1, 3);
  const record = frameRecord(22, version, Buffer.concat([hsHead, newBody]));
  if (record.length !== targetBytes) throw new Error(`padHello: internal error (${record.length} != ${targetBytes})`);
  return record;
}

/** A captured ClientHello padded to exactly `targetBytes` in one record (see padHello). */
export async function paddedHello(targetBytes: number, opts: HelloOptions = {}): Promise<Buffer> {
  return padHello(await rawClientHello(opts), targetBytes);
}
