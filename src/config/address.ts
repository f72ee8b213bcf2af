import { isIP } from 'node:net';

/** A syntactically valid address; `host` is an IP literal (v6 without brackets) or a host name. */
export interface ParsedAddress {
  host: string;
  port: number;
}

// RFC 1123 labels; underscores are tolerated because real-world internal names use them.
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;
const LOOKS_LIKE_IPV4 = /^[0-9.]+$/;

/**
 * Parses `a.b.c.d:port`, `[v6]:port` or `hostname:port` without touching DNS.
 * Returns `{ error }` with a message that already quotes the offending text.
 */
export function parseAddress(text: string): ParsedAddress | { error: string } {
  const fail = (why: string) => ({ error: `"${text}" is not a valid address: ${why}` });
  if (text.trim() !== text || text === '') return fail('expected host:port without spaces');

  const split = splitHostPort(text);
  if ('error' in split) return fail(split.error);
  const { host, portText } = split;

  const port = parsePort(portText);
  if (typeof port === 'string') return fail(port);

  if (split.bracketed) {
    if (host.includes('%')) return fail('IPv6 zone ids (%iface) are not supported');
    if (isIP(host) !== 6) return fail(`"${host}" is not an IPv6 address`);
    return { host: canonicalIPv6(host), port };
  }
  if (LOOKS_LIKE_IPV4.test(host)) {
    if (isIP(host) !== 4) return fail(`"${host}" is not an IPv4 address`);
    return { host, port };
  }
  if (!HOSTNAME.test(host)) return fail(`"${host}" is not a valid host name`);
  return { host: host.toLowerCase().replace(/\.$/, ''), port };
}

/** `a.b.c.d:port` or `[v6]:port`; a host name is kept as is (call it after DNS resolution). */
export function normalizeAddress(host: string, port: number): string {
  if (isIP(host) === 6) return `[${canonicalIPv6(host)}]:${port}`;
  return `${host}:${port}`;
}

/** True when the host part is already an IP literal, i.e. no DNS lookup is needed. */
export function isIPLiteral(host: string): boolean {
  return isIP(host) !== 0;
}

/**
 * True for a loopback IP: 127.0.0.0/8, ::1, and IPv4-mapped 127.x (`::ffff:127.0.0.1`, as Node
 * reports an IPv4 client on a dual-stack socket). Brackets are allowed; host names are not resolved.
 */
export function isLoopback(host: string): boolean {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) !== 6 || h.includes('%')) return false;
  const canonical = canonicalIPv6(h);
  return canonical === '::1' || /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(canonical);
}

function splitHostPort(
  text: string,
): { host: string; portText: string; bracketed: boolean } | { error: string } {
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return { error: 'missing "]" after the IPv6 address' };
    if (text[close + 1] !== ':') return { error: 'expected ":port" after "]"' };
    return { host: text.slice(1, close), portText: text.slice(close + 2), bracketed: true };
  }
  const colon = text.lastIndexOf(':');
  if (colon < 0) return { error: 'missing ":port" (expected host:port)' };
  const host = text.slice(0, colon);
  if (host.includes(':')) return { error: 'an IPv6 address must be in brackets, e.g. [::1]:8080' };
  if (host === '') return { error: 'missing host before ":port"' };
  return { host, portText: text.slice(colon + 1), bracketed: false };
}

/** The port, or why it is not one. */
function parsePort(text: string): number | string {
  if (text === '') return 'missing port after ":"';
  if (!/^[0-9]+$/.test(text)) return `port "${text}" is not a number (must be 1–65535)`;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : 'port must be 1–65535';
}

// The WHATWG URL parser produces the RFC 5952 form (lower case, longest zero run compressed),
// so `[0:0::1]:80` and `[::1]:80` compare equal.
function canonicalIPv6(host: string): string {
  return new URL(`http://[${host}]/`).hostname.slice(1, -1);
}
