/**
 * engine.threads and engine.cpus: how many engine threads, and where they run.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

import type { ConfigIssue } from './types.js';

export const MAX_THREADS = 64;

/**
 * What `threads: 'auto'` means in this process: EPOXY_THREADS when set (a container whose CPU
 * quota is smaller than the CPUs it sees, or a test run that wants a given count), else the
 * CPUs this process may run on (its affinity mask), at most 64.
 */
export function autoThreads(env: NodeJS.ProcessEnv = process.env): number {
  const forced = Number(env['EPOXY_THREADS']);
  if (Number.isInteger(forced) && forced >= 1 && forced <= MAX_THREADS) return forced;
  return Math.max(1, Math.min(availableParallelism(), MAX_THREADS));
}

/** The CPUs in this process's affinity mask (Cpus_allowed_list of /proc/self/status), or undefined. */
export function allowedCpus(statusText?: string): Set<number> | undefined {
  let text = statusText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/status', 'utf8');
    } catch {
      return undefined;
    }
  }
  const line = /^Cpus_allowed_list:\s*(.*)$/m.exec(text)?.[1]?.trim();
  if (!line) return undefined;
  const cpus = new Set<number>();
  for (const part of line.split(',')) {
    const [lo, hi] = part.split('-').map(Number);
    if (lo === undefined || !Number.isInteger(lo)) continue;
    for (let c = lo; c <= (hi ?? lo); c++) cpus.add(c);
  }
  return cpus;
}

/** engine.cpus entries outside the affinity mask: pinning a thread there would fail. */
export function checkCpus(cpus: unknown, issues: ConfigIssue[], allowed = allowedCpus()): void {
  if (!Array.isArray(cpus) || !allowed) return;
  cpus.forEach((cpu: unknown, i) => {
    if (typeof cpu !== 'number' || !Number.isInteger(cpu) || cpu < 0) return;  // the schema says why
    if (!allowed.has(cpu)) {
      const list = [...allowed].sort((a, b) => a - b).join(', ');
      issues.push({ path: `engine.cpus[${i}]`, message: `CPU ${cpu} is not one this process may run on (${list})` });
    }
  });
}
