/** `epoxy run`: loads a TypeScript config, proxies, and stops gracefully on SIGTERM / SIGINT. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { afterEach, expect, it } from 'vitest';

import { cli, runsKilledAfterEach, startEpoxyRun, type LogLine, type Run } from './epoxy-run.js';
import { connect, echoBackend, freePort, readBytes, refusedWithin, sleep } from './helpers.js';
import { httpBackend, request, type HttpBackend, type Reply } from './http-helpers.js';

async function runUntilListening(config: string): Promise<{ child: ReturnType<typeof spawn>; output: () => string }> {
  const dir = mkdtempSync(join(tmpdir(), 'epoxy-run-'));
  const file = join(dir, 'epoxy.config.ts');
  writeFileSync(file, config);
  const child = spawn(process.execPath, [cli, 'run', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  for (let i = 0; i < 100 && !out.includes('"listening"') && !out.includes('listening'); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, output: () => out };
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  it(`runs a TypeScript TCP config and stops gracefully on ${signal}`, async () => {
    const echo = await echoBackend();
    const port = await freePort();
    const { child, output } = await runUntilListening(
      `const config: { listeners: unknown[]; pools: Record<string, unknown> } = {
  listeners: [{ name: 'tcp', bind: '127.0.0.1:${port}', mode: 'tcp', pool: 'echo' }],
  pools: { echo: { servers: ['${echo.address}'] } },
};
export default config;
`,
    );
    const c = await connect(port);
    const reply = readBytes(c, 5);
    c.write('hello');
    expect((await reply).toString()).toBe('hello');
    c.destroy();
    const exited = once(child, 'exit');
    child.kill(signal);
    const [code] = (await exited) as [number | null];
    expect(code, output()).toBe(0);
    expect(output()).toContain('stopped');
    await echo.close();
  });
}

it('runs an HTTP config with routes', async () => {
  const web = await httpBackend('web');
  const port = await freePort();
  const { child, output } = await runUntilListening(
    `export default {
  listeners: [{ name: 'web', bind: '127.0.0.1:${port}', mode: 'http', routes: [{ host: 'app.test', pool: 'web' }] }],
  pools: { web: { servers: ['${web.address}'] } },
};
`,
  );
  const ok = await request(port, { path: '/hi', headers: { host: 'APP.test' } });
  expect(ok.status, output()).toBe(200);
  expect(ok.body.toString()).toBe('web GET /hi\n');
  expect((await request(port, { headers: { host: 'other.test' } })).status).toBe(404);
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  expect(((await exited) as [number | null])[0]).toBe(0);
  await web.close();
});

// ---- start lines, graceful stop with requests in flight ----

const runs = runsKilledAfterEach();
const backends: HttpBackend[] = [];

afterEach(async () => {
  await Promise.all(backends.splice(0).map((b) => b.close()));
});

/** `epoxy run --no-watch` on a JSON-able config; resolves once its "epoxy running" line is out. */
async function startRun(config: unknown): Promise<Run> {
  const run = await startEpoxyRun(`export default ${JSON.stringify(config, null, 2)};\n`, ['--no-watch']);
  runs.push(run);
  return run;
}

/** An HTTP backend that answers nothing until release() (then `done`), so requests stay in flight. */
async function holdingBackend(): Promise<HttpBackend & { release(): void }> {
  const held: ServerResponse[] = [];
  let released = false;
  const b = await httpBackend('held', (_req, res) => (released ? res.end('done') : held.push(res)));
  backends.push(b);
  return Object.assign(b, {
    release() {
      released = true;
      for (const res of held.splice(0)) res.end('done');
    },
  });
}

/** Resolves once the backend has `n` requests (they are in flight through the proxy). */
async function inFlight(b: HttpBackend, n: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while (b.seen.length < n) {
    if (Date.now() > deadline) throw new Error(`backend saw ${b.seen.length} of ${n} requests`);
    await sleep(10);
  }
}

function httpConfig(port: number, backend: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    listeners: [{ name: 'web', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ pool: 'app' }] }],
    pools: { app: { servers: [backend] } },
    ...extra,
  };
}

const stopping = (l: LogLine) => typeof l.msg === 'string' && l.msg.startsWith('stopping: listeners closed');

it('prints one line per listener and the admin URL at start', async () => {
  const [web, tcpPort, httpPort, adminPort] = [await httpBackend('web'), await freePort(), await freePort(), await freePort()];
  backends.push(web);
  const run = await startRun({
    listeners: [
      { name: 'db', bind: `127.0.0.1:${tcpPort}`, mode: 'tcp', pool: 'app' },
      { name: 'web', bind: `127.0.0.1:${httpPort}`, mode: 'http', routes: [{ host: 'a.test', pool: 'app' }, { pool: 'app' }] },
    ],
    pools: { app: { servers: [web.address] } },
    admin: { bind: `127.0.0.1:${adminPort}` },
  });
  const messages = run.logs().map((l) => l.msg);
  expect(messages).toContain(`listening: db on 127.0.0.1:${tcpPort} (tcp, to pool app)`);
  expect(messages).toContain(`listening: web on http://127.0.0.1:${httpPort} (http, 2 routes)`);
  expect(run.logs().find((l) => l.admin !== undefined)).toMatchObject({
    admin: `http://127.0.0.1:${adminPort}/`,
    msg: `admin: http://127.0.0.1:${adminPort}/ (dashboard, /stats, /metrics)`,
  });
});

it('SIGTERM with requests in flight: new connections are refused, every request completes, exit 0 within the grace', async () => {
  const held = await holdingBackend();
  const port = await freePort();
  const graceMs = 8000;
  const run = await startRun(httpConfig(port, held.address, { shutdownGraceMs: graceMs }));
  const replies: Array<Promise<Reply>> = Array.from({ length: 5 }, (_, i) => request(port, { path: `/slow/${i}` }));
  await inFlight(held, 5);

  const signalled = Date.now();
  run.child.kill('SIGTERM');
  expect(await run.waitForLog(stopping)).toMatchObject({ graceMs });
  expect(await refusedWithin(port, 2000)).toBe(true);
  // Still running: the five requests hold it open.
  expect(run.child.exitCode).toBe(null);

  held.release();
  for (const reply of await Promise.all(replies)) expect(reply).toMatchObject({ status: 200, body: Buffer.from('done') });
  const { code, at } = await run.exit;
  expect(code, run.output()).toBe(0);
  expect(at - signalled).toBeLessThan(graceMs);
  expect(run.logs().at(-1)?.msg).toBe('stopped');
});

it('cuts what is still in flight when shutdownGraceMs runs out, and still exits 0', async () => {
  const held = await holdingBackend();
  const port = await freePort();
  const run = await startRun(httpConfig(port, held.address, { shutdownGraceMs: 400 }));
  const replies = Array.from({ length: 2 }, (_, i) => request(port, { path: `/never/${i}` }).then(() => 'answered', () => 'cut'));
  await inFlight(held, 2);

  const signalled = Date.now();
  run.child.kill('SIGTERM');
  expect(await Promise.all(replies)).toEqual(['cut', 'cut']);
  const { code, at } = await run.exit;
  expect(code, run.output()).toBe(0);
  // The config's grace, not the 10 s default.
  expect(at - signalled).toBeGreaterThanOrEqual(350);
  expect(at - signalled).toBeLessThan(5000);
});

it('a second SIGTERM during the drain exits at once with 1', async () => {
  const held = await holdingBackend();
  const port = await freePort();
  const run = await startRun(httpConfig(port, held.address, { shutdownGraceMs: 60_000 }));
  const reply = request(port, { path: '/stuck' }).catch(() => undefined);
  await inFlight(held, 1);
  run.child.kill('SIGTERM');
  await run.waitForLog(stopping);
  const signalled = Date.now();
  run.child.kill('SIGTERM');
  const { code, at } = await run.exit;
  expect(code, run.output()).toBe(1);
  expect(at - signalled).toBeLessThan(3000);
  await reply;
});
