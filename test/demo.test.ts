/**
 * `npm start` for real: the compiled demo (dist/cli/demo.js) in a child process, on free ports
 * (EPOXY_DEMO_PORT=0), driven through the URLs it prints, then stopped with SIGINT.
 * Needs dist/ (`npx tsc -p tsconfig.json`) and the addon in build/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, expect, it } from 'vitest';

import { connect, readLine, sleep } from './helpers.js';
import { request } from './http-helpers.js';

const demo = new URL('../dist/cli/demo.js', import.meta.url).pathname;

let child: ChildProcess | undefined;
afterEach(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** Starts the demo and resolves with everything it printed once its screen is complete. */
async function startDemo(): Promise<{ child: ChildProcess; output: () => string; screen: string }> {
  const env = { ...process.env, EPOXY_DEMO_PORT: '0' };
  delete env['EPOXY_LOG_LEVEL'];
  const c = spawn(process.execPath, [demo], { stdio: ['ignore', 'pipe', 'pipe'], env });
  child = c;
  let out = '';
  c.stdout!.on('data', (d) => (out += d));
  c.stderr!.on('data', (d) => (out += d));
  const deadline = Date.now() + 15_000;
  while (!out.includes('Ctrl-C stops.')) {
    if (Date.now() > deadline || c.exitCode !== null) throw new Error(`the demo did not print its screen; output:\n${out}`);
    await sleep(20);
  }
  return { child: c, output: () => out, screen: out };
}

function match(screen: string, pattern: RegExp): RegExpMatchArray {
  const m = screen.match(pattern);
  if (!m) throw new Error(`${pattern} not found in the demo's screen:\n${screen}`);
  return m;
}

const body = (r: { body: Buffer }) => r.body.toString().trim();

it('runs HTTP and TCP listeners with the dashboard, answers on the URLs it prints, and stops on SIGINT with 0', async () => {
  const { child: c, output, screen } = await startDemo();

  // A handful of lines, no log lines among them.
  const lines = screen.trim().split('\n');
  expect(lines.length).toBeLessThanOrEqual(12);
  expect(screen).not.toMatch(/^\{/m);

  const httpUrl = new URL(match(screen, /^ {2}curl (http:\/\/127\.0\.0\.1:\d+\/)\s/m)[1]!);
  const httpPort = Number(httpUrl.port);
  expect(screen).toContain(`curl -H 'Host: b.localhost' ${httpUrl.href}`);
  expect(screen).toContain(`ab -n 1000 -c 10 ${httpUrl.href}`);
  const tcpPort = Number(match(screen, /^ {2}nc 127\.0\.0\.1 (\d+)\s/m)[1]);
  const dashboard = match(screen, /dashboard on (http:\/\/127\.0\.0\.1:\d+\/)/)[1]!;
  expect(new Set([httpPort, tcpPort, Number(new URL(dashboard).port)]).size).toBe(3);

  // The default route round-robins over both backends; Host b.localhost always gets B.
  const defaults: string[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await request(httpPort);
    expect(r.status).toBe(200);
    defaults.push(body(r));
  }
  expect(new Set(defaults)).toEqual(new Set(['served by backend A', 'served by backend B']));
  for (let i = 0; i < 4; i++) {
    const r = await request(httpPort, { headers: { host: 'b.localhost' } });
    expect(r.status).toBe(200);
    expect(body(r)).toBe('served by backend B');
  }

  // The TCP listener: greeted by an echo backend, then what we send comes back.
  const socket = await connect(tcpPort);
  expect(await readLine(socket)).toMatch(/^hello from echo backend [AB]$/);
  socket.resume();
  socket.write('ping through epoxy\n');
  expect(await readLine(socket)).toBe('ping through epoxy');
  socket.destroy();

  // The dashboard.
  const page = await request(Number(new URL(dashboard).port), { path: new URL(dashboard).pathname });
  expect(page.status).toBe(200);
  expect(page.headers['content-type']).toMatch(/^text\/html/);
  expect(page.body.toString()).toMatch(/^<!doctype html>/i);

  // Ctrl-C: a graceful stop, exit code 0.
  const exit = once(c, 'exit');
  c.kill('SIGINT');
  const [code, signal] = (await Promise.race([exit, sleep(15_000).then(() => ['timeout', null])])) as [unknown, unknown];
  expect({ code, signal, output: code === 0 ? '' : output() }).toEqual({ code: 0, signal: null, output: '' });
  expect(output()).toContain('stopping...');
});
