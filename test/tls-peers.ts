/**
 * TLS and PROXY-protocol peers for tests, written here from the specs and independent of the
 * engine's own parsers: certificates (openssl CLI), servers that parse a PROXY header (v1/v2)
 * and then speak TLS or plain TCP, clients (node:tls and `openssl s_client`), captured and
 * rewritten ClientHellos, and a relay that fragments a real ClientHello on its way to a server.
 *
 * The servers' line protocol (one reply per line the client sends):
 *   any line    -> "name=<n> sni=<s|-> alpn=<a|-> client=<addr>:<port|-> peer=<addr>:<port> line=<the line>\n"
 *                  (client is the source from the PROXY header; IPv6 in brackets; "local" for a
 *                  v2 LOCAL header, "unknown" for v1 UNKNOWN, "-" with no PROXY parsing)
 *   bulk <N>    -> N random bytes, then "<sha256 hex of them>\n"
 *   upload <N>  -> reads the next N raw bytes, then "<sha256 hex of them>\n"
 *   quit        -> the server ends the connection
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { readLine, writeRandom } from './helpers.js';

const execFileP = promisify(execFile);

/**
 * The environment for peer processes: without the sanitizer runtimes that test:asan and
 * test:tsan preload into node, which would otherwise load into nginx, haproxy and openssl too.
 */
export function peerEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env['LD_PRELOAD'];
  return env;
}
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

const ensured = new Set<string>();
/**
 * Runs scripts/ensure-tools.sh for the `command=package` / `/file=package` pairs not yet ensured
 * in this process (it installs what is missing with apt-get).
 */
export function ensureTools(pairs: string[]): void {
  const todo = pairs.filter((p) => !ensured.has(p));
  if (todo.length === 0) return;
  execFileSync('bash', [path.join(repoRoot, 'scripts', 'ensure-tools.sh'), ...todo], { stdio: ['ignore', 'inherit', 'inherit'], env: peerEnv() });
  for (const p of todo) ensured.add(p);
}

// ---------------------------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------------------------

export interface LeafCert {
  key: string;
  cert: string;
  keyFile: string;
  certFile: string;
  /** cert then key in one PEM file (haproxy's `crt`). */
  bundleFile: string;
}

export interface Certs {
  dir: string;
  ca: string;
  caFile: string;
  names: string[];
  certs: Record<string, LeafCert>;
}

const certCache = new Map<string, Promise<Certs>>();
const tempDirs: string[] = [];
process.once('exit', () => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

/** A private temp dir removed when the process exits. */
export function privateTempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileP('openssl', args, { cwd, env: peerEnv() });
  } catch (e) {
    const err = e as { stderr?: unknown; message?: unknown };
    throw new Error(`openssl ${args.join(' ')} failed: ${String(err.stderr ?? err.message)}`);
  }
}

/**
 * A self-signed CA (EC P-256) and one leaf per name, its only SAN being DNS:<name> (wildcards
 * like '*.example.com' included), made with the openssl CLI in a private temp dir. Cached per
 * process by the list of names.
 */
export function makeCerts(names: string[]): Promise<Certs> {
  const cacheKey = names.join('\0');
  let p = certCache.get(cacheKey);
  if (!p) {
    p = generateCerts(names);
    certCache.set(cacheKey, p);
    p.catch(() => certCache.delete(cacheKey));
  }
  return p;
}

async function generateCerts(names: string[]): Promise<Certs> {
  if (names.length === 0) throw new Error('makeCerts: no names');
  ensureTools(['openssl=openssl']);
  const dir = privateTempDir('epoxy-certs-');
  writeFileSync(
    path.join(dir, 'ca.cnf'),
    [
      '[req]',
      'distinguished_name = dn',
      'prompt = no',
      'x509_extensions = v3_ca',
      '[dn]',
      'CN = epoxy test CA',
      '[v3_ca]',
      'basicConstraints = critical,CA:TRUE',
      'keyUsage = critical,keyCertSign,cRLSign',
      'subjectKeyIdentifier = hash',
      '',
    ].join('\n'),
  );
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl(['req', '-x509', '-new', '-config', 'ca.cnf', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '30', '-sha256'], dir);

  const certs: Record<string, LeafCert> = {};
  await Promise.all(
    names.map(async (name, i) => {
      if (!/^[A-Za-z0-9*.-]+$/.test(name)) throw new Error(`makeCerts: unsupported name ${JSON.stringify(name)}`);
      const base = `leaf-${i}`;
      writeFileSync(
        path.join(dir, `${base}.cnf`),
        [
          '[req]',
          'distinguished_name = dn',
          'prompt = no',
          '[dn]',
          `CN = ${name}`,
          '[v3]',
          'basicConstraints = critical,CA:FALSE',
          'keyUsage = critical,digitalSignature',
          'extendedKeyUsage = serverAuth,clientAuth',
          `subjectAltName = DNS:${name}`,
          'authorityKeyIdentifier = keyid',
          '',
        ].join('\n'),
      );
      await openssl(['req', '-new', '-config', `${base}.cnf`, ...ec, '-keyout', `${base}.key`, '-out', `${base}.csr`], dir);
      const serial = `0x${randomBytes(12).toString('hex')}`;
      await openssl(
        ['x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', serial, '-days', '30', '-sha256',
          '-extfile', `${base}.cnf`, '-extensions', 'v3', '-out', `${base}.pem`],
        dir,
      );
      const key = await readFile(path.join(dir, `${base}.key`), 'utf8');
      const cert = await readFile(path.join(dir, `${base}.pem`), 'utf8');
      const bundleFile = path.join(dir, `${base}.bundle.pem`);
      writeFileSync(bundleFile, cert + key);
      certs[name] = { key, cert, keyFile: path.join(dir, `${base}.key`), certFile: path.join(dir, `${base}.pem`), bundleFile };
    }),
  );
  const ca = await readFile(path.join(dir, 'ca.pem'), 'utf8');
  return { dir, ca, caFile: path.join(dir, 'ca.pem'), names: [...names], certs };
}

/** Does a certificate name (possibly '*.x.y') cover a host name? One label per wildcard, as in RFC 6125. */
export function certNameMatches(certName: string, host: string): boolean {
  const c = certName.toLowerCase();
  const h = host.toLowerCase();
  if (!c.startsWith('*.')) return c === h;
  const dot = h.indexOf('.');
  return dot > 0 && h.slice(dot + 1) === c.slice(2);
}

// ---------------------------------------------------------------------------------------------
// PROXY protocol (haproxy's proxy-protocol.txt): parser and builder
// ---------------------------------------------------------------------------------------------

export const PROXY_V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ');
const V1_MAX = 107;

export type ProxyFamily = 'TCP4' | 'TCP6' | 'UDP4' | 'UDP6' | 'UNIX_STREAM' | 'UNIX_DGRAM' | 'UNSPEC' | 'UNKNOWN';

export const PP2_TYPE = {
  ALPN: 0x01,
  AUTHORITY: 0x02,
  CRC32C: 0x03,
  NOOP: 0x04,
  UNIQUE_ID: 0x05,
  SSL: 0x20,
  NETNS: 0x30,
} as const;

export interface ProxyTlv {
  type: number;
  value: Buffer;
}

export interface ProxyHeader {
  version: 1 | 2;
  /** v2 LOCAL command (health checks: addresses are to be ignored). */
  local: boolean;
  family: ProxyFamily;
  srcAddr?: string;
  srcPort?: number;
  dstAddr?: string;
  dstPort?: number;
  tlvs: {
    alpn?: string;
    authority?: string;
    uniqueId?: Buffer;
    crc32c?: number;
    /** When a CRC32C TLV is present: whether it matches the header. */
    crc32cValid?: boolean;
    netns?: string;
    all: ProxyTlv[];
  };
  /** Bytes of the header on the wire (v1 line with CRLF, or 16 + length for v2). */
  headerBytes: number;
  raw: Buffer;
}

export type ProxyAccept = 'v1' | 'v2' | 'any';

export class ProxyHeaderError extends Error {}

function isPrefixOf(buf: Buffer, of: Buffer): boolean {
  const n = Math.min(buf.length, of.length);
  return buf.subarray(0, n).equals(of.subarray(0, n));
}

/**
 * Parses a PROXY header at the start of `buf`. Returns undefined while more bytes are needed,
 * throws ProxyHeaderError when the bytes are not an acceptable header.
 */
export function parseProxyHeader(buf: Buffer, accept: ProxyAccept = 'any'): ProxyHeader | undefined {
  if (buf.length === 0) return undefined;
  const maybeV2 = isPrefixOf(buf, PROXY_V2_SIGNATURE);
  const maybeV1 = isPrefixOf(buf, V1_PREFIX);
  if (!maybeV1 && !maybeV2) {
    throw new ProxyHeaderError(`no PROXY header: starts with ${buf.subarray(0, 16).toString('hex')}`);
  }
  if (maybeV2 && buf.length < PROXY_V2_SIGNATURE.length) return undefined;
  if (maybeV1 && buf.length < V1_PREFIX.length) return undefined;
  const version = maybeV2 ? 2 : 1;
  if (accept !== 'any' && accept !== `v${version}`) throw new ProxyHeaderError(`expected a PROXY ${accept} header, got v${version}`);
  return version === 2 ? parseV2(buf) : parseV1(buf);
}

function parseV1(buf: Buffer): ProxyHeader | undefined {
  const end = buf.subarray(0, V1_MAX).indexOf('\r\n');
  if (end < 0) {
    if (buf.length >= V1_MAX) throw new ProxyHeaderError('PROXY v1 line longer than 107 bytes');
    return undefined;
  }
  const line = buf.subarray(0, end).toString('latin1');
  const raw = Buffer.from(buf.subarray(0, end + 2));
  const parts = line.split(' ');
  const fam = parts[1];
  const base = { version: 1 as const, local: false, headerBytes: end + 2, raw, tlvs: { all: [] } };
  if (fam === 'UNKNOWN') return { ...base, family: 'UNKNOWN' };
  if (fam !== 'TCP4' && fam !== 'TCP6') throw new ProxyHeaderError(`PROXY v1: bad family in ${JSON.stringify(line)}`);
  if (parts.length !== 6) throw new ProxyHeaderError(`PROXY v1: expected 6 fields in ${JSON.stringify(line)}`);
  const [, , src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  const want = fam === 'TCP4' ? 4 : 6;
  if (net.isIP(src) !== want || net.isIP(dst) !== want) throw new ProxyHeaderError(`PROXY v1: bad ${fam} address in ${JSON.stringify(line)}`);
  const port = (s: string) => {
    if (!/^(0|[1-9][0-9]{0,4})$/.test(s) || Number(s) > 65535) throw new ProxyHeaderError(`PROXY v1: bad port ${JSON.stringify(s)}`);
    return Number(s);
  };
  return { ...base, family: fam, srcAddr: src, dstAddr: dst, srcPort: port(sport), dstPort: port(dport) };
}

function parseV2(buf: Buffer): ProxyHeader | undefined {
  if (buf.length < 16) return undefined;
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) throw new ProxyHeaderError(`PROXY v2: bad version nibble 0x${verCmd.toString(16)}`);
  const cmd = verCmd & 0x0f;
  if (cmd > 1) throw new ProxyHeaderError(`PROXY v2: bad command ${cmd}`);
  const famByte = buf[13]!;
  const len = buf.readUInt16BE(14);
  if (buf.length < 16 + len) return undefined;
  const raw = Buffer.from(buf.subarray(0, 16 + len));
  const body = raw.subarray(16);
  const families: Record<number, [ProxyFamily, number]> = {
    0x00: ['UNSPEC', 0],
    0x11: ['TCP4', 12],
    0x12: ['UDP4', 12],
    0x21: ['TCP6', 36],
    0x22: ['UDP6', 36],
    0x31: ['UNIX_STREAM', 216],
    0x32: ['UNIX_DGRAM', 216],
  };
  const entry = families[famByte];
  if (!entry) throw new ProxyHeaderError(`PROXY v2: bad family/protocol byte 0x${famByte.toString(16)}`);
  const [family, addrLen] = entry;
  if (len < addrLen) throw new ProxyHeaderError(`PROXY v2: length ${len} too short for ${family}`);
  const header: ProxyHeader = { version: 2, local: cmd === 0, family, headerBytes: 16 + len, raw, tlvs: { all: [] } };
  if (family === 'TCP4' || family === 'UDP4') {
    header.srcAddr = [...body.subarray(0, 4)].join('.');
    header.dstAddr = [...body.subarray(4, 8)].join('.');
    header.srcPort = body.readUInt16BE(8);
    header.dstPort = body.readUInt16BE(10);
  } else if (family === 'TCP6' || family === 'UDP6') {
    header.srcAddr = formatIPv6(body.subarray(0, 16));
    header.dstAddr = formatIPv6(body.subarray(16, 32));
    header.srcPort = body.readUInt16BE(32);
    header.dstPort = body.readUInt16BE(34);
  } else if (family === 'UNIX_STREAM' || family === 'UNIX_DGRAM') {
    const str = (b: Buffer) => {
      const z = b.indexOf(0);
      return b.subarray(0, z < 0 ? b.length : z).toString('utf8');
    };
    header.srcAddr = str(body.subarray(0, 108));
    header.dstAddr = str(body.subarray(108, 216));
  }
  let off = addrLen;
  while (off < body.length) {
    if (off + 3 > body.length) throw new ProxyHeaderError('PROXY v2: truncated TLV header');
    const type = body[off]!;
    const tlen = body.readUInt16BE(off + 1);
    if (off + 3 + tlen > body.length) throw new ProxyHeaderError(`PROXY v2: TLV 0x${type.toString(16)} overruns the header`);
    const value = Buffer.from(body.subarray(off + 3, off + 3 + tlen));
    header.tlvs.all.push({ type, value });
    if (type === PP2_TYPE.ALPN) header.tlvs.alpn = value.toString('latin1');
    else if (type === PP2_TYPE.AUTHORITY) header.tlvs.authority = value.toString('utf8');
    else if (type === PP2_TYPE.UNIQUE_ID) header.tlvs.uniqueId = value;
    else if (type === PP2_TYPE.NETNS) header.tlvs.netns = value.toString('utf8');
    else if (type === PP2_TYPE.CRC32C) {
      if (tlen !== 4) throw new ProxyHeaderError('PROXY v2: CRC32C TLV is not 4 bytes');
      header.tlvs.crc32c = value.readUInt32BE(0);
      const zeroed = Buffer.from(raw);
      zeroed.fill(0, 16 + off + 3, 16 + off + 3 + 4);
      header.tlvs.crc32cValid = crc32c(zeroed) === header.tlvs.crc32c;
    }
    off += 3 + tlen;
  }
  return header;
}

let crcTable: Uint32Array | undefined;
/** CRC-32C (Castagnoli), as the PP2_TYPE_CRC32C TLV uses. */
export function crc32c(buf: Buffer): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
      crcTable[i] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const b of buf) crc = crcTable[(crc ^ b) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** RFC 5952 text of a 16-byte IPv6 address (v4-mapped addresses as ::ffff:a.b.c.d). */
export function formatIPv6(b: Buffer): string {
  if (b.length !== 16) throw new Error('formatIPv6: need 16 bytes');
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return `::ffff:${[...b.subarray(12)].join('.')}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** 16 bytes of an IPv6 address in any text form (with ::, and a trailing dotted IPv4). */
export function parseIPv6(text: string): Buffer {
  if (!net.isIPv6(text)) throw new Error(`not an IPv6 address: ${text}`);
  let s = text;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) {
    const o = v4.slice(1).map(Number) as [number, number, number, number];
    s = `${s.slice(0, v4.index)}${((o[0] << 8) | o[1]).toString(16)}:${((o[2] << 8) | o[3]).toString(16)}`;
  }
  const parse = (h: string) => (h === '' ? [] : h.split(':').map((g) => parseInt(g, 16)));
  const halves = s.split('::');
  let groups: number[];
  if (halves.length === 2) {
    const left = parse(halves[0]!);
    const right = parse(halves[1]!);
    groups = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  } else {
    groups = parse(s);
  }
  if (groups.length !== 8) throw new Error(`bad IPv6 address: ${text}`);
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

export interface BuildProxyOptions {
  version: 1 | 2;
  /** 'local' is v2's LOCAL command; for v1 it gives "PROXY UNKNOWN". */
  command?: 'proxy' | 'local';
  srcAddr?: string;
  srcPort?: number;
  dstAddr?: string;
  dstPort?: number;
  /** v2 only. */
  tlvs?: ProxyTlv[];
  /** v2 only: append a CRC32C TLV computed over the header. */
  crc32c?: boolean;
}

/** A PROXY header as a sender would write it (family from the source address). */
export function buildProxyHeader(o: BuildProxyOptions): Buffer {
  const command = o.command ?? 'proxy';
  const src = o.srcAddr;
  const dst = o.dstAddr;
  const fam = src === undefined ? 0 : net.isIPv4(src) ? 4 : net.isIPv6(src) ? 6 : 0;
  if (o.version === 1) {
    if (command === 'local' || fam === 0) return Buffer.from('PROXY UNKNOWN\r\n');
    return Buffer.from(`PROXY TCP${fam} ${src} ${dst} ${o.srcPort ?? 0} ${o.dstPort ?? 0}\r\n`);
  }
  let addr: Buffer;
  let famByte: number;
  if (fam === 4 && dst !== undefined) {
    addr = Buffer.alloc(12);
    Buffer.from(src!.split('.').map(Number)).copy(addr, 0);
    Buffer.from(dst.split('.').map(Number)).copy(addr, 4);
    addr.writeUInt16BE(o.srcPort ?? 0, 8);
    addr.writeUInt16BE(o.dstPort ?? 0, 10);
    famByte = 0x11;
  } else if (fam === 6 && dst !== undefined) {
    addr = Buffer.alloc(36);
    parseIPv6(src!).copy(addr, 0);
    parseIPv6(dst).copy(addr, 16);
    addr.writeUInt16BE(o.srcPort ?? 0, 32);
    addr.writeUInt16BE(o.dstPort ?? 0, 34);
    famByte = 0x21;
  } else {
    addr = Buffer.alloc(0);
    famByte = 0x00;
  }
  const tlvBufs = (o.tlvs ?? []).map((t) => {
    const h = Buffer.alloc(3);
    h[0] = t.type;
    h.writeUInt16BE(t.value.length, 1);
    return Buffer.concat([h, t.value]);
  });
  if (o.crc32c) tlvBufs.push(Buffer.from([PP2_TYPE.CRC32C, 0, 4, 0, 0, 0, 0]));
  const body = Buffer.concat([addr, ...tlvBufs]);
  const head = Buffer.alloc(16);
  PROXY_V2_SIGNATURE.copy(head);
  head[12] = command === 'local' ? 0x20 : 0x21;
  head[13] = famByte;
  head.writeUInt16BE(body.length, 14);
  const out = Buffer.concat([head, body]);
  if (o.crc32c) out.writeUInt32BE(crc32c(out), out.length - 4);
  return out;
}

/**
 * Reads a PROXY header off a raw socket. Resolves with the header and the bytes that came after
 * it in the same reads; the socket is left paused with no 'data' listener of ours.
 */
export function readProxyHeader(socket: net.Socket, accept: ProxyAccept, timeoutMs = 10_000): Promise<{ header: ProxyHeader; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => fail(new ProxyHeaderError(`no complete PROXY header within ${timeoutMs} ms (got ${buf.length} bytes)`)), timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', fail);
      socket.pause();
    };
    const fail = (e: Error) => {
      cleanup();
      reject(e);
    };
    const onEnd = () => fail(new ProxyHeaderError(`connection ended inside the PROXY header (${buf.length} bytes)`));
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      let header: ProxyHeader | undefined;
      try {
        header = parseProxyHeader(buf, accept);
      } catch (e) {
        fail(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      if (!header) return;
      cleanup();
      resolve({ header, rest: Buffer.from(buf.subarray(header.headerBytes)) });
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', fail);
  });
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

// ---------------------------------------------------------------------------------------------
// TLS records and ClientHellos
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------------

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

export const hostPort = (host: string, port: number | string) => (net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`);

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

// ---------------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------------

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} (timed out after ${ms} ms)`)), ms);
    }),
  ]);
}

export interface TlsRequestOptions {
  host?: string;
  /** SNI to send; undefined sends none (and the certificate is then checked against verifyName, if given). */
  servername?: string;
  alpn?: string[];
  ca: string;
  /** Name to check the certificate against when no servername is sent. */
  verifyName?: string;
  line?: string;
  timeoutMs?: number;
}

export interface TlsReply {
  line: string;
  alpn: string | false;
  /** The client's own port, as the server (or a PROXY header) should see it. */
  localPort: number;
  localAddress: string;
}

/** A connected node:tls client (handshake done, chain checked against `ca`; see TlsRequestOptions for SNI). */
export async function tlsConnect(port: number, o: Omit<TlsRequestOptions, 'line'>): Promise<tls.TLSSocket> {
  const host = o.host ?? '127.0.0.1';
  const socket = tls.connect({
    host,
    port,
    ca: o.ca,
    rejectUnauthorized: true,
    // node:tls sends no SNI for an IP host and an empty servername (a capture in peers.test.ts checks it).
    servername: o.servername ?? '',
    ...(o.alpn ? { ALPNProtocols: o.alpn } : {}),
    checkServerIdentity: (_h, cert) => {
      const name = o.servername ?? o.verifyName;
      return name === undefined ? undefined : tls.checkServerIdentity(name, cert);
    },
  });
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        socket.once('secureConnect', resolve);
        socket.once('error', reject);
      }),
      o.timeoutMs ?? 5000,
      `TLS handshake with ${hostPort(host, port)}`,
    );
  } catch (e) {
    socket.destroy();
    throw e;
  }
  socket.on('error', () => {});
  return socket;
}

/** Connects with node:tls, sends one line, resolves with the first reply line. */
export async function tlsRequest(port: number, o: TlsRequestOptions): Promise<TlsReply> {
  const socket = await tlsConnect(port, o);
  try {
    socket.write(`${o.line ?? 'hello'}\n`);
    const line = await withTimeout(readLine(socket), o.timeoutMs ?? 5000, `tlsRequest to ${hostPort(o.host ?? '127.0.0.1', port)}: no reply`);
    return { line, alpn: socket.alpnProtocol ?? false, localPort: socket.localPort ?? 0, localAddress: socket.localAddress ?? '' };
  } finally {
    socket.destroy();
  }
}

/**
 * Asks a peer server for `bytes` random bytes ("bulk N") on an open connection and hashes them
 * as they come; resolves with what arrived and the sha256 the server says it sent.
 */
export function bulkDownload(socket: net.Socket, bytes: number): Promise<{ received: number; sha: string; serverSha: string }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let received = 0;
    let tail = '';
    const onData = (c: Buffer) => {
      let chunk = c;
      if (received < bytes) {
        const take = Math.min(bytes - received, chunk.length);
        hash.update(chunk.subarray(0, take));
        received += take;
        chunk = chunk.subarray(take);
      }
      if (chunk.length === 0) return;
      tail += chunk.toString('latin1');
      const nl = tail.indexOf('\n');
      if (nl < 0) return;
      done();
      resolve({ received, sha: hash.digest('hex'), serverSha: tail.slice(0, nl) });
    };
    const onClose = () => {
      done();
      reject(new Error(`bulkDownload: closed after ${received} of ${bytes} bytes`));
    };
    const done = () => {
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.write(`bulk ${bytes}\n`);
  });
}

/** Sends "upload N" and `bytes` random bytes (honouring backpressure); resolves with their sha256 and the server's. */
export async function bulkUpload(socket: net.Socket, bytes: number): Promise<{ sentSha: string; serverSha: string }> {
  const reply = readLine(socket);
  socket.write(`upload ${bytes}\n`);
  const sentSha = await writeRandom(socket, bytes);
  return { sentSha, serverSha: await reply };
}

/** Plain TCP: sends one line, resolves with the first reply line. */
export async function plainRequest(port: number, o: { host?: string; line?: string; timeoutMs?: number } = {}): Promise<{ line: string; localPort: number; localAddress: string }> {
  const host = o.host ?? '127.0.0.1';
  const socket = net.connect({ host, port });
  socket.on('error', () => {});
  try {
    return await withTimeout(
      (async () => {
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('error', reject);
        });
        socket.write(`${o.line ?? 'hello'}\n`);
        const line = await readLine(socket);
        return { line, localPort: socket.localPort ?? 0, localAddress: socket.localAddress ?? '' };
      })(),
      o.timeoutMs ?? 5000,
      `plainRequest to ${hostPort(host, port)}`,
    );
  } finally {
    socket.destroy();
  }
}

export interface OpensslClientOptions {
  host?: string;
  /** -servername (and -verify_hostname); undefined gives -noservername. */
  servername?: string;
  alpn?: string[];
  caFile: string;
  line: string;
  timeoutMs?: number;
}

/**
 * `openssl s_client -quiet` with the chain checked against caFile (-verify_return_error), the
 * line on stdin; resolves with the first line it prints, then kills it by PID (s_client lingers
 * after stdin ends, as -quiet implies -ign_eof).
 */
export async function opensslClient(port: number, o: OpensslClientOptions): Promise<{ line: string; stderr: string }> {
  ensureTools(['openssl=openssl']);
  const host = o.host ?? '127.0.0.1';
  const args = ['s_client', '-connect', hostPort(host, port), '-CAfile', o.caFile, '-verify_return_error', '-quiet'];
  if (o.servername !== undefined) args.push('-servername', o.servername, '-verify_hostname', o.servername);
  else args.push('-noservername');
  if (o.alpn) args.push('-alpn', o.alpn.join(','));
  const child = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'], env: peerEnv() });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.stdin.on('error', () => {});
  child.stdin.end(`${o.line}\n`);
  try {
    const line = await withTimeout(
      new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          const nl = stdout.indexOf('\n');
          if (nl >= 0) resolve(stdout.slice(0, nl));
        });
        void exited.then((code) => reject(new Error(`openssl s_client exited (${code}) before a reply: ${stderr}`)));
      }),
      o.timeoutMs ?? 5000,
      `openssl ${args.join(' ')}: no reply; stderr: ${stderr}`,
    );
    return { line, stderr };
  } finally {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await exited;
  }
}

// ---------------------------------------------------------------------------------------------
// A relay that fragments the client's first TLS record on its way to a server
// ---------------------------------------------------------------------------------------------

export type DribbleMode = 'bytewise' | 'two-records' | 'passthrough';

export interface RelayConnectionStats {
  /** Bytes of the client's first record (the ClientHello). */
  firstRecordBytes: number;
  /** Bytes of the prefix written before it. */
  prefixBytes: number;
  /** socket.write calls made for prefix + first record (bytewise: one per byte). */
  writes: number;
  /** Sizes (header included) of the records the first record was re-framed into. */
  records: number[];
}

export interface DribbleRelay {
  port: number;
  host: string;
  address: string;
  stats: RelayConnectionStats[];
  close(): Promise<void>;
}

export interface DribbleOptions {
  host?: string;
  targetHost?: string;
  /** Bytes sent to the target before the client's (e.g. a PROXY header): a Buffer or made per client. */
  prefix?: Buffer | ((client: net.Socket) => Buffer);
  /** two-records: handshake bytes in the first record (default: half). */
  splitAt?: number;
}

/**
 * A TCP relay between a TLS client and `targetPort` that waits for the client's first TLS record
 * and forwards it (after `prefix`, if any) fragmented, then pipes everything else unchanged:
 * 'bytewise' writes prefix + record one byte per write with setImmediate in between (Nagle off);
 * 'two-records' re-frames the record into two records (prefix + first in one write, the second
 * in the next); 'passthrough' writes prefix + record in one write. The handshake is real.
 */
export async function startDribbleRelay(targetPort: number, mode: DribbleMode, opts: DribbleOptions = {}): Promise<DribbleRelay> {
  const host = opts.host ?? '127.0.0.1';
  const targetHost = opts.targetHost ?? '127.0.0.1';
  const stats: RelayConnectionStats[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    const upstream = net.connect({ host: targetHost, port: targetPort, allowHalfOpen: true });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.setNoDelay(true);
    const kill = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', kill);
    upstream.on('error', kill);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    const prefix = typeof opts.prefix === 'function' ? opts.prefix(client) : (opts.prefix ?? Buffer.alloc(0));
    const connected = once(upstream, 'connect');
    let buf = Buffer.alloc(0);
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (buf.length < 5) return;
      const recLen = 5 + buf.readUInt16BE(3);
      if (buf.length < recLen) return;
      client.off('data', onData);
      client.pause();
      const first = buf.subarray(0, recLen);
      const rest = buf.subarray(recLen);
      void (async () => {
        await connected;
        const st: RelayConnectionStats = { firstRecordBytes: first.length, prefixBytes: prefix.length, writes: 0, records: [] };
        stats.push(st);
        const write = async (b: Buffer) => {
          st.writes++;
          if (!upstream.write(b)) await once(upstream, 'drain');
          await new Promise((r) => setImmediate(r));
        };
        if (mode === 'bytewise') {
          const all = Buffer.concat([prefix, first]);
          for (let i = 0; i < all.length; i++) await write(all.subarray(i, i + 1));
          st.records.push(first.length);
        } else if (mode === 'two-records') {
          const hsLen = first.length - 5;
          const at = opts.splitAt ?? Math.floor(hsLen / 2);
          const framed = splitIntoRecords(first, [at]);
          const r1 = framed.subarray(0, 5 + at);
          const r2 = framed.subarray(5 + at);
          st.records.push(r1.length, r2.length);
          await write(Buffer.concat([prefix, r1]));
          await write(r2);
        } else {
          st.records.push(first.length);
          await write(Buffer.concat([prefix, first]));
        }
        if (rest.length) upstream.write(rest);
        client.pipe(upstream);
        client.resume();
      })().catch(kill);
    };
    client.on('data', onData);
    upstream.pipe(client);
  });
  server.listen(0, host);
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    host,
    address: hostPort(host, port),
    stats,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
