/**
 * What a connection begins with before it is routed: the meaning checks and defaults of TCP
 * routes by SNI/ALPN (`listeners[].routes` on TCP listeners), `acceptProxy`, and the PROXY
 * protocol versions sent to servers.
 */
import { isIP } from 'node:net';

import { checkHostMapRoute, checkRouteTarget, type HostMapNames } from './hostmap-config.js';
import { describe } from './schema.js';
import type { AcceptProxyConfig, ConfigIssue, ProxyProtocolVersion } from './types.js';
import type { ResolvedAcceptProxy, ResolvedTcpRoute } from './resolved.js';

export const DEFAULT_PROXY_TIMEOUT_MS = 3000;

type HostPattern = (pattern: string) => string | undefined;

/**
 * A TCP listener takes `pool` (every connection) or `routes` (by the ClientHello), one of them;
 * route names must be SNI patterns (host names, not IP literals: RFC 6066 forbids them in SNI).
 */
export function checkTcpListener(
  path: string,
  listener: { pool?: string | undefined; routes?: unknown[] | undefined; given: ReadonlySet<string> },
  poolNames: string[],
  unknownPool: (name: string) => string,
  hostPattern: HostPattern,
  maps: HostMapNames,
  issues: ConfigIssue[],
): void {
  const hasPool = listener.given.has('pool');
  const hasRoutes = listener.given.has('routes');
  if (hasPool && hasRoutes) {
    issues.push({ path: `${path}.routes`, message: 'a TCP listener takes either pool or routes, not both' });
  } else if (!hasPool && !hasRoutes) {
    issues.push({ path: `${path}.pool`, message: 'is required (the name of a pool), or give routes by sni/alpn' });
  }
  if (listener.pool !== undefined && !poolNames.includes(listener.pool)) {
    issues.push({ path: `${path}.pool`, message: unknownPool(listener.pool) });
  }
  if (!hasRoutes || !Array.isArray(listener.routes)) return;
  if (listener.routes.length === 0) issues.push({ path: `${path}.routes`, message: 'must contain at least one route' });
  listener.routes.forEach((raw, j) => {
    if (!isRecord(raw)) return;  // the shape check reports it
    const at = `${path}.routes[${j}]`;
    const { sni, pool } = raw;
    if (typeof sni === 'string') {
      const normalized = hostPattern(sni);
      if (normalized === undefined) {
        issues.push({ path: `${at}.sni`, message: `"${sni}" is not a host name or a "*.example.com" pattern` });
      } else if (isIP(normalized)) {
        issues.push({ path: `${at}.sni`, message: `"${sni}" is an IP address, which clients never send as SNI (RFC 6066)` });
      }
    }
    checkHostMapRoute(at, raw, 'sni', issues);
    if (checkRouteTarget(at, raw, maps, issues) && typeof pool === 'string' && !poolNames.includes(pool)) {
      issues.push({ path: `${at}.pool`, message: unknownPool(pool) });
    }
  });
}

/** Each trusted entry must be an IP address or a CIDR range without host bits. */
export function checkAcceptProxy(path: string, raw: unknown, issues: ConfigIssue[]): void {
  if (!isRecord(raw) || !Array.isArray(raw['trusted'])) return;
  raw['trusted'].forEach((entry: unknown, i: number) => {
    if (typeof entry !== 'string') return;  // the shape check reports it
    const r = normalizeRange(entry);
    if ('error' in r) issues.push({ path: `${path}.acceptProxy.trusted[${i}]`, message: r.error });
  });
}

export function resolveAcceptProxy(raw: true | AcceptProxyConfig | undefined): ResolvedAcceptProxy | null {
  if (raw === undefined) return null;
  if (raw === true) return { trusted: [], timeoutMs: DEFAULT_PROXY_TIMEOUT_MS };
  return {
    trusted: raw.trusted.map((t) => {
      const r = normalizeRange(t);
      return 'error' in r ? t : r.range;
    }),
    timeoutMs: raw.timeoutMs ?? DEFAULT_PROXY_TIMEOUT_MS,
  };
}

export function resolveTcpRoutes(
  routes: ReadonlyArray<{ sni?: string | undefined; alpn?: string | undefined; pool?: string | undefined; hostMap?: string | undefined }> | undefined,
  hostPattern: HostPattern,
): ResolvedTcpRoute[] {
  return (routes ?? []).map((r) => ({
    sni: r.sni === undefined ? '' : (hostPattern(r.sni) ?? ''),
    alpn: r.alpn ?? '',
    ...routeTarget(r),
  }));
}

/** A hostMap route is served by the map's pool, which is named after the map. */
export function routeTarget(r: { pool?: string | undefined; hostMap?: string | undefined }): { pool: string; hostMap?: string } {
  return r.hostMap !== undefined ? { pool: r.hostMap, hostMap: r.hostMap } : { pool: r.pool ?? '' };
}

/** A server's own setting wins over its pool's; `false` says none. */
export function serverProxyProtocol(
  own: ProxyProtocolVersion | false | undefined,
  pool: ProxyProtocolVersion | undefined,
): ProxyProtocolVersion | null {
  if (own === false) return null;
  return own ?? pool ?? null;
}

/** `10.0.0.0/8` stays; `127.0.0.1` becomes `127.0.0.1/32`; `::1` becomes `::1/128`. */
export function normalizeRange(text: string): { range: string } | { error: string } {
  const slash = text.indexOf('/');
  const host = slash < 0 ? text : text.slice(0, slash);
  const ipFamily = isIP(host);
  if (ipFamily !== 4 && ipFamily !== 6) return { error: `must be an IP address or a range like "10.0.0.0/8", got ${describe(text)}` };
  const family: 4 | 6 = ipFamily;
  const max = family === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : text.slice(slash + 1);
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return { error: `prefix length must be 0-${max}, got ${describe(text)}` };
  if (!hostBitsClear(host, family, prefix)) {
    return { error: `"${text}" has host bits set below /${prefix} (did you mean the network address?)` };
  }
  return { range: `${host}/${prefix}` };
}

function hostBitsClear(host: string, family: 4 | 6, prefix: number): boolean {
  const bytes = family === 4 ? host.split('.').map(Number) : ipv6Bytes(host);
  for (let bit = prefix; bit < bytes.length * 8; bit++) {
    if (((bytes[bit >> 3] ?? 0) >> (7 - (bit & 7))) & 1) return false;
  }
  return true;
}

function ipv6Bytes(host: string): number[] {
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups first.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(host);
  let text = host;
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${host.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const groups = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
