/**
 * Key templates ('hostnames:{host}:backends') and host names: from a key to its host and back,
 * the SCAN and keyspace patterns, and the one normalization every path (loader, pub/sub
 * messages, lookups, operator commands) goes through, so that `WWW.Foo.com.` and `www.foo.com`
 * can never be two different hosts (the source documents' mixed-case bug).
 */
import { normalizeHost } from '../config/host.js';

/** The normalization itself lives in src/config/host.ts, shared with pick() in src/pools.ts. */
export { normalizeHost };

const PLACEHOLDER = '{host}';

// Letters, digits, '-', '_' in dot-separated labels, with an optional leading '*.' wildcard.
// No empty labels: 'a..b' and '.a' are not host names.
const HOST_NAME = /^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;

export interface KeyTemplate {
  /** The template as configured. */
  readonly text: string;
  readonly prefix: string;
  readonly suffix: string;
  /** SCAN MATCH pattern: `{host}` → `*`, glob characters of the rest escaped. */
  readonly match: string;
}

/** Checks and splits a template; the error quotes it. */
export function compileTemplate(text: string): KeyTemplate {
  const at = text.indexOf(PLACEHOLDER);
  if (at < 0 || text.indexOf(PLACEHOLDER, at + 1) >= 0) {
    throw new Error(`key template "${text}" must contain {host} exactly once`);
  }
  const prefix = text.slice(0, at);
  const suffix = text.slice(at + PLACEHOLDER.length);
  return { text, prefix, suffix, match: `${escapeGlob(prefix)}*${escapeGlob(suffix)}` };
}

/** The raw host part of a key (not normalized), or undefined when the key does not fit the template. */
export function rawHostOf(template: KeyTemplate, key: string): string | undefined {
  const { prefix, suffix } = template;
  if (key.length < prefix.length + suffix.length) return undefined;
  if (!key.startsWith(prefix) || !key.endsWith(suffix)) return undefined;
  return key.slice(prefix.length, key.length - suffix.length);
}

/** The key that holds a host's entry (the host as given: callers pass a normalized one). */
export function keyOf(template: KeyTemplate, host: string): string {
  return `${template.prefix}${host}${template.suffix}`;
}

/** The keyspace-notification pattern for the keys of a template in one database. */
export function keyspacePattern(db: number, match: string): string {
  return `${keyspacePrefix(db)}${match}`;
}

export function keyspacePrefix(db: number): string {
  return `__keyspace@${db}__:`;
}

/** Backslash-escapes the characters Redis glob patterns treat specially. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\^]/g, (c) => `\\${c}`);
}

/** True for a normalized host name or `*.parent` wildcard a host map may hold. */
export function isHostName(host: string): boolean {
  return host.length <= 253 && HOST_NAME.test(host);
}

/** The normalized host, or why the text is not one (the message quotes it). */
export function parseHost(text: string): { host: string } | { error: string } {
  const host = normalizeHost(text);
  if (host === '') return { error: `host "${text}" is empty` };
  if (!isHostName(host)) {
    return { error: `host "${text}" is not a host name (letters, digits, '-', '_', '.', optional leading '*.')` };
  }
  return { host };
}

/**
 * The entries to try for a request's host, in order: the host, then `*.parent` walking up the
 * labels. `a.b.foo.com` → a.b.foo.com, *.b.foo.com, *.foo.com, *.com.
 */
export function lookupCandidates(host: string): string[] {
  const out = [host];
  let rest = host;
  for (let dot = rest.indexOf('.'); dot >= 0; dot = rest.indexOf('.')) {
    rest = rest.slice(dot + 1);
    if (rest === '') break;
    const wildcard = `*.${rest}`;
    if (wildcard !== out[out.length - 1]) out.push(wildcard);
  }
  return out;
}
