/**
 * PROXY protocol (haproxy's proxy-protocol.txt), written from the spec: v1/v2 parser and builder,
 * CRC-32C for the PP2_TYPE_CRC32C TLV, IPv6 text/bytes helpers, and readProxyHeader, which reads
 * a header off a raw socket.
 */
import * as net from 'node:net';

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
