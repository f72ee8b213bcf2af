/** Active health-check settings: the checks that depend on more than one field, and the defaults. */
import { parseAddress } from './address.js';
import { describe, type HealthView, type ParsedConfig } from './schema.js';
import type { ConfigIssue, ResolvedHealthCheck } from './types.js';

type ParsedHealth = NonNullable<ParsedConfig['pools'][string]['health']>;

const HEALTH_DEFAULTS = { path: '/', intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3 } as const;
const HTTP_ONLY = ['path', 'host', 'expectStatus'] as const;
// It goes into the request line as is: `GET <path> HTTP/1.1`.
const REQUEST_PATH = /^\/[^\x00-\x20\x7f]*$/;

/** A check is `http` when it says so or has a path. */
function defaultHealthType(hasPath: boolean): 'tcp' | 'http' {
  return hasPath ? 'http' : 'tcp';
}

export function checkHealth(path: string, h: HealthView, issues: ConfigIssue[]): void {
  // A malformed `type` is reported by the shape check; the checks that depend on it wait.
  const type = h.given.has('type') ? h.type : defaultHealthType(h.given.has('path'));
  if (type === 'tcp') checkTcpHealth(path, h, issues);
  else checkHttpHealth(path, h, issues);
  checkHealthTimeout(path, h, issues);
}

/** Path, host and expectStatus would be ignored by a check that only connects. */
function checkTcpHealth(path: string, h: HealthView, issues: ConfigIssue[]): void {
  const why = h.given.has('type')
    ? 'but this check has type "tcp"'
    : 'and without a path this check is "tcp" (add type: "http")';
  for (const key of HTTP_ONLY) {
    if (h[key] !== undefined) issues.push({ path: `${path}.${key}`, message: `is only used by http checks, ${why}` });
  }
}

function checkHttpHealth(path: string, h: HealthView, issues: ConfigIssue[]): void {
  if (h.path !== undefined && !REQUEST_PATH.test(h.path)) {
    const message = `must start with "/" and have no spaces or control characters, got ${describe(h.path)}`;
    issues.push({ path: `${path}.path`, message });
  }
  if (h.host !== undefined && !isHostHeader(h.host)) {
    issues.push({ path: `${path}.host`, message: `must be a host name or host:port, got ${describe(h.host)}` });
  }
}

/** A Host header value: a host name or an IP literal (`[v6]`), with or without `:port`. */
function isHostHeader(text: string): boolean {
  const hasPort = text.startsWith('[') ? !text.endsWith(']') : text.includes(':');
  return !('error' in parseAddress(hasPort ? text : `${text}:80`));
}

/** A check must finish before the next one starts. */
function checkHealthTimeout(path: string, h: HealthView, issues: ConfigIssue[]): void {
  if (h.timeoutMs === undefined) return;
  const intervalMs = h.given.has('intervalMs') ? h.intervalMs : HEALTH_DEFAULTS.intervalMs;
  if (intervalMs === undefined || h.timeoutMs <= intervalMs) return;
  const which = h.given.has('intervalMs') ? `intervalMs (${intervalMs})` : `intervalMs (${intervalMs} by default)`;
  issues.push({ path: `${path}.timeoutMs`, message: `must be at most ${which}, got ${h.timeoutMs}` });
}

export function resolveHealth(h: ParsedHealth): ResolvedHealthCheck {
  const intervalMs = h.intervalMs ?? HEALTH_DEFAULTS.intervalMs;
  return {
    type: h.type ?? defaultHealthType(h.path !== undefined),
    path: h.path ?? HEALTH_DEFAULTS.path,
    host: h.host ?? '',
    expectStatus: typeof h.expectStatus === 'number' ? [h.expectStatus] : (h.expectStatus ?? []),
    intervalMs,
    timeoutMs: h.timeoutMs ?? Math.min(HEALTH_DEFAULTS.timeoutMs, intervalMs),
    rise: h.rise ?? HEALTH_DEFAULTS.rise,
    fall: h.fall ?? HEALTH_DEFAULTS.fall,
  };
}
