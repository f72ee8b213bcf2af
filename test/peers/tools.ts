/**
 * Small utilities shared by the test peers: the environment for peer processes (peerEnv),
 * installing the tools they need (ensureTools), private temp dirs, a promise timeout, and
 * host:port formatting.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The environment for peer processes: without the sanitizer runtimes that test:asan and
 * test:tsan preload into node, which would otherwise load into nginx, haproxy and openssl too.
 */
export function peerEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env['LD_PRELOAD'];
  return env;
}
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

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

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} (timed out after ${ms} ms)`)), ms);
    }),
  ]);
}

export const hostPort = (host: string, port: number | string) => (net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`);
