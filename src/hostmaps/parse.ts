/**
 * The values of host-map and pool keys, from what Redis returns to sorted, deduplicated server
 * lists. Invalid entries are returned with the reason rather than thrown: the caller skips them
 * and logs each once. Addresses follow src/config/address.ts, with one restriction: servers must
 * be IP literals, because the request path must never wait for DNS.
 */
import { isIPLiteral, normalizeAddress, parseAddress } from '../config/address.js';
import type { WeightedServer } from './types.js';

export interface InvalidEntry {
  entry: string;
  why: string;
}

export interface Parsed<T> {
  servers: T[];
  invalid: InvalidEntry[];
}

export const MAX_WEIGHT = 256;

/** `1.2.3.4:80` or `[v6]:80` in normalized form, or why not. */
export function parseServer(text: string): { address: string } | { error: string } {
  const parsed = parseAddress(text);
  if ('error' in parsed) return parsed;
  if (!isIPLiteral(parsed.host)) {
    return { error: `"${text}" is not an IP literal with a port (host names are not resolved for host maps)` };
  }
  return { address: normalizeAddress(parsed.host, parsed.port) };
}

/**
 * A hipache backend URL: `http://ip[:port]` (port 80 when absent, one trailing '/' tolerated).
 * https://, paths, queries and user info are refused: the engine speaks plain HTTP to servers and
 * routes by address only, so such an entry cannot be honoured as written.
 */
export function parseHipacheUrl(text: string): { address: string } | { error: string } {
  if (!/^http:\/\//i.test(text)) return { error: `"${text}" is not an http://ip:port URL` };
  let authority = text.slice('http://'.length);
  if (authority.endsWith('/')) authority = authority.slice(0, -1);
  if (/[/?#@]/.test(authority)) return { error: `"${text}" has a path, query or user info (only http://ip:port)` };
  const parsed = parseServer(withDefaultPort(authority));
  return 'error' in parsed ? { error: `"${text}": ${parsed.error}` } : parsed;
}

function withDefaultPort(authority: string): string {
  if (authority.startsWith('[')) return authority.endsWith(']') ? `${authority}:80` : authority;
  return authority.includes(':') ? authority : `${authority}:80`;
}

/** The members of a 'set' host-map key (or a pool SET). */
export function parseSetMembers(members: readonly string[]): Parsed<string> {
  const servers: string[] = [];
  const invalid: InvalidEntry[] = [];
  for (const member of members) {
    const parsed = parseServer(member);
    if ('error' in parsed) invalid.push({ entry: member, why: parsed.error });
    else servers.push(parsed.address);
  }
  return { servers: sortUnique(servers), invalid };
}

/** A hipache LIST: the first element is the identifier, the rest are backend URLs. */
export function parseHipacheList(list: readonly string[]): Parsed<string> {
  const servers: string[] = [];
  const invalid: InvalidEntry[] = [];
  for (const url of list.slice(1)) {
    const parsed = parseHipacheUrl(url);
    if ('error' in parsed) invalid.push({ entry: url, why: parsed.error });
    else servers.push(parsed.address);
  }
  return { servers: sortUnique(servers), invalid };
}

/** A pool SET: every member has weight 1. */
export function parsePoolSet(members: readonly string[]): Parsed<WeightedServer> {
  const { servers, invalid } = parseSetMembers(members);
  return { servers: servers.map((address) => ({ address, weight: 1 })), invalid };
}

/**
 * A pool HASH `ip:port` → weight (an integer 1..256). Two fields that normalize to the same
 * address keep the one whose field sorts first, so every instance picks the same.
 */
export function parsePoolHash(fields: Readonly<Record<string, string>>): Parsed<WeightedServer> {
  const byAddress = new Map<string, WeightedServer>();
  const invalid: InvalidEntry[] = [];
  for (const field of Object.keys(fields).sort()) {
    const value = fields[field] ?? '';
    const parsed = parseServer(field);
    if ('error' in parsed) {
      invalid.push({ entry: field, why: parsed.error });
      continue;
    }
    const weight = parseWeight(value);
    if (weight === undefined) {
      invalid.push({ entry: `${field}=${value}`, why: `weight "${value}" of "${field}" is not an integer 1..${MAX_WEIGHT}` });
      continue;
    }
    if (!byAddress.has(parsed.address)) byAddress.set(parsed.address, { address: parsed.address, weight });
  }
  const servers = [...byAddress.values()].sort((a, b) => compare(a.address, b.address));
  return { servers, invalid };
}

export function parseWeight(text: string): number | undefined {
  if (!/^[0-9]{1,3}$/.test(text)) return undefined;
  const weight = Number(text);
  return weight >= 1 && weight <= MAX_WEIGHT ? weight : undefined;
}

/** Sorted (code-unit order, the same on every instance) and deduplicated. */
export function sortUnique(list: readonly string[]): string[] {
  const sorted = [...list].sort(compare);
  return sorted.filter((s, i) => i === 0 || s !== sorted[i - 1]);
}

export function sameServers(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((s, i) => s === b[i]);
}

export function sameWeighted(a: readonly WeightedServer[], b: readonly WeightedServer[]): boolean {
  return a.length === b.length && a.every((s, i) => s.address === b[i]?.address && s.weight === b[i]?.weight);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
