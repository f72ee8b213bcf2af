/**
 * `epoxy check` end to end: the compiled CLI in a child process, as a user runs it.
 * Needs dist/ (`npx tsc -p tsconfig.json`).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(fileURLToPath(import.meta.url), '../..');
const CLI = join(ROOT, 'dist/cli/main.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function epoxy(...args: string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

let dir: string;

/** Writes a config into the temp dir. Plain `export default`: 'epoxy' does not resolve from there. */
function configFile(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, body);
  return path;
}

const GOOD = `export default {
  listeners: [{ name: 'web', bind: '127.0.0.1:8080', mode: 'tcp' as const, pool: 'web' }],
  pools: { web: { servers: ['127.0.0.1:9001', { address: '127.0.0.1:9002', weight: 2 }] } },
};
`;

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first with \`npx tsc -p tsconfig.json\``);
  dir = mkdtempSync(join(tmpdir(), 'epoxy-cli-'));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('epoxy check', () => {
  it('reports every problem in examples/bad.config.ts with its field path and exits 1', async () => {
    const r = await epoxy('check', 'examples/bad.config.ts');
    expect(r.code).toBe(1);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe('epoxy: examples/bad.config.ts: 3 problems:');
    expect(lines.slice(1).map((l) => l.trim().split(': ')[0])).toEqual([
      'listeners[0].pool',
      'listeners[1].bind',
      'pools.web.servers[1]',
    ]);
    expect(r.stderr).toContain('listeners[0].pool: unknown pool "wbe" (pools are: web)');
    expect(r.stderr).toContain('listeners[1].bind: bind 127.0.0.1:8080 is already used by listeners[0] ("web")');
    expect(r.stderr).toContain('pools.web.servers[1]: "127.0.0.1:99999" is not a valid address: port must be 1–65535');
    expect(r.stdout).toBe('');
  });

  it('reports every problem with balancing, maxconn, queue and health at once, each at its path', async () => {
    const file = configFile('limits.config.ts', `export default {
  listeners: [{ name: 'web', bind: '127.0.0.1:8080', mode: 'tcp' as const, pool: 'web', maxconn: -1 }],
  pools: {
    web: {
      balance: { hash: 'header' as const, header: 'x tenant' },
      servers: ['127.0.0.1:9001', { address: '127.0.0.1:9002', state: 'off' }],
      queue: { limt: 10 },
      health: { type: 'tcp' as const, path: '/healthz', intervalMs: 500, timeoutMs: 800 },
      passive: { errors: 0 },
    },
  },
};
`);
    const r = await epoxy('check', file);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe(`epoxy: ${file}: 7 problems:`);
    expect(lines.slice(1).map((l) => l.trim())).toEqual([
      'listeners[0].maxconn: must be a whole number from 0 to 1000000, got number -1',
      'pools.web.servers[1].state: must be "ready", "drain" or "maint", got string "off"',
      'pools.web.queue.limt: unknown key "limt" (did you mean "limit"?)',
      'pools.web.passive.errors: must be a whole number from 1 to 1000, got number 0',
      "pools.web.balance.header: must be a header name (letters, digits and !#$%&'*+-.^_`|~), got string \"x tenant\"",
      'pools.web.health.path: is only used by http checks, but this check has type "tcp"',
      'pools.web.health.timeoutMs: must be at most intervalMs (500), got 800',
    ]);
  });

  it('accepts a good config and exits 0 with a summary', async () => {
    const file = configFile('good.config.ts', GOOD);
    const r = await epoxy('check', file);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`epoxy: ${file} is valid: 1 listener, 1 pool, 2 servers\n`);
  });

  it('loads .mjs and .json configs', async () => {
    const mjs = configFile('good.config.mjs', GOOD.replace(' as const', ''));
    expect((await epoxy('check', mjs)).code).toBe(0);
    const json = configFile('good.config.json', JSON.stringify({
      listeners: [{ name: 'web', bind: '127.0.0.1:8080', mode: 'tcp', pool: 'web' }],
      pools: { web: { servers: ['127.0.0.1:9001'] } },
    }));
    expect((await epoxy('check', json)).code).toBe(0);
  });

  it('says clearly when the file does not exist', async () => {
    const missing = join(dir, 'nope.config.ts');
    const r = await epoxy('check', missing);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`(file): cannot load ${missing}: no such file`);
  });

  it('reports a syntax error with the file path', async () => {
    const file = configFile('broken.config.ts', 'export default { listeners: [\n');
    const r = await epoxy('check', file);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`(file): cannot load ${file}: `);
  });

  it('reports a file without a default export', async () => {
    const file = configFile('named.config.ts', 'export const config = {};\n');
    const r = await epoxy('check', file);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('has no default export');
  });

  it.skipIf(!existsSync(join(ROOT, 'dist/index.js')))('accepts examples/tcp.config.ts (imports from "epoxy")', async () => {
    const r = await epoxy('check', 'examples/tcp.config.ts');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});

describe('epoxy command line', () => {
  it('prints usage for --help and without arguments', async () => {
    for (const args of [['--help'], ['-h'], []]) {
      const r = await epoxy(...args);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Usage: epoxy <command>');
    }
  });

  it('prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = await epoxy('--version');
    expect(r).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('exits 2 with usage on an unknown command or a missing argument', async () => {
    for (const args of [['frobnicate'], ['check'], ['check', 'a.ts', 'b.ts'], ['check', '--strict', 'a.ts']]) {
      const r = await epoxy(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain('Usage: epoxy <command>');
    }
  });

  it('run with an invalid config prints the problems and exits 1 without starting', async () => {
    const r = await epoxy('run', 'examples/bad.config.ts');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('listeners[0].pool: unknown pool "wbe"');
  });
});
