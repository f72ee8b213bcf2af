/**
 * `listeners[].congestion` and `pools.<name>.congestion`: TCP congestion control names
 * (TCP_CONGESTION), checked against this host when the config is. The engine sets them on
 * sockets as it opens them and could only drop a name it is refused, so a name the kernel
 * lacks, or one this process may not use, is a config error here.
 */
import { readFile } from 'node:fs/promises';

import { CONGESTION_NAME, formatPath } from './schema.js';
import type { ConfigIssue } from './types.js';

export interface CongestionHost {
  /** net.ipv4.tcp_available_congestion_control: the algorithms loaded. */
  available: string[];
  /** net.ipv4.tcp_allowed_congestion_control: those a process without CAP_NET_ADMIN may pick. */
  allowed: string[];
  /** Whether this process has CAP_NET_ADMIN (and may pick any available one). */
  privileged: boolean;
}

const CAP_NET_ADMIN = 12n;

/** This host's algorithms; undefined where /proc does not tell (the engine then reports failures). */
async function hostCongestion(): Promise<CongestionHost | undefined> {
  try {
    const [available, allowed, status] = await Promise.all([
      readFile('/proc/sys/net/ipv4/tcp_available_congestion_control', 'utf8'),
      readFile('/proc/sys/net/ipv4/tcp_allowed_congestion_control', 'utf8'),
      readFile('/proc/self/status', 'utf8'),
    ]);
    const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? '0';
    return { available: words(available), allowed: words(allowed), privileged: ((BigInt(`0x${capEff}`) >> CAP_NET_ADMIN) & 1n) === 1n };
  } catch {
    return undefined;
  }
}

/**
 * Checks the config's congestion names against this host; /proc is read only when the config
 * names one (most do not).
 */
export async function checkHostCongestion(input: Record<string, unknown>, issues: ConfigIssue[]): Promise<void> {
  if (congestionFields(input).length > 0) checkCongestion(input, await hostCongestion(), issues);
}

/** Records an issue for every well-formed congestion name in `input` that `host` cannot give. */
export function checkCongestion(input: Record<string, unknown>, host: CongestionHost | undefined, issues: ConfigIssue[]): void {
  if (!host) return;
  for (const [path, name] of congestionFields(input)) {
    const message = problem(name, host);
    if (message) issues.push({ path, message });
  }
}

function congestionFields(input: Record<string, unknown>): Array<[string, string]> {
  const fields: Array<[string, string]> = [];
  const add = (path: string, owner: unknown) => {
    if (typeof owner !== 'object' || owner === null) return;
    const name = (owner as Record<string, unknown>)['congestion'];
    if (typeof name === 'string' && CONGESTION_NAME.test(name)) fields.push([path, name]);
  };
  const listeners = input['listeners'];
  if (Array.isArray(listeners)) listeners.forEach((l, i) => add(`listeners[${i}].congestion`, l));
  const pools = input['pools'];
  if (typeof pools === 'object' && pools !== null) {
    for (const [name, pool] of Object.entries(pools)) add(formatPath(['pools', name, 'congestion']), pool);
  }
  return fields;
}

function problem(name: string, host: CongestionHost): string | undefined {
  if (!host.available.includes(name)) {
    return (
      `"${name}" is not available on this host (net.ipv4.tcp_available_congestion_control: ${host.available.join(', ')}; ` +
      `a module may need loading first: modprobe tcp_${name})`
    );
  }
  if (!host.privileged && !host.allowed.includes(name)) {
    return (
      `"${name}" needs CAP_NET_ADMIN: without it net.ipv4.tcp_allowed_congestion_control permits only ${host.allowed.join(', ')}`
    );
  }
  return undefined;
}

function words(text: string): string[] {
  return text.trim().split(/\s+/).filter(Boolean);
}
