/**
 * `epoxy run` reloading its config: the compiled CLI in a child process, edited files, SIGHUP,
 * real sockets. Needs dist/ (`npx tsc -p tsconfig.json`) and the addon in build/.
 */
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { afterEach, expect, it } from 'vitest';

import { runsKilledAfterEach, startEpoxyRun, type LogLine, type Run } from './epoxy-run.js';
import { connect, freePort, namedBackend, readLine, sleep, type Backend } from './helpers.js';

/** Long enough for the 200 ms debounce and a reload to have happened, were one coming. */
const QUIET_MS = 600;

const running = runsKilledAfterEach();
const backends: Backend[] = [];

afterEach(async () => {
  await Promise.all(backends.splice(0).map((b) => b.close()));
});

async function backend(name: string): Promise<Backend> {
  const b = await namedBackend(name);
  backends.push(b);
  return b;
}

/** One TCP listener per port given, all to pool `main` with `servers`. */
function tcpConfig(ports: number[], servers: string[]): string {
  const listeners = ports.map((p, i) => ({ name: `tcp${i}`, bind: `127.0.0.1:${p}`, mode: 'tcp', pool: 'main' }));
  return `export default ${JSON.stringify({ listeners, pools: { main: { servers } } }, null, 2)};\n`;
}

/** Starts `epoxy run <dir>/cfg.mjs` and waits for its "epoxy running" line (the watcher is up by then). */
async function startRun(config: string, args: string[] = [], name = 'cfg.mjs'): Promise<Run> {
  const run = await startEpoxyRun(config, args, name);
  running.push(run);
  return run;
}

/**
 * A config that loads at once the first time and takes `ms` on every later load (a reload),
 * saying so on stdout. The flag lives on globalThis because each load evaluates the module
 * afresh in the same process.
 */
function slowReloads(ms: number, config: string): string {
  return `if (globalThis.epoxyLoadedOnce) {
  console.log('{"msg":"slow config loading"}');
  await new Promise((r) => setTimeout(r, ${ms}));
}
globalThis.epoxyLoadedOnce = true;
${config}`;
}

const reloaded = (l: LogLine) => l.msg === 'config reloaded';
const reloadFailed = (l: LogLine) => l.msg === 'reload failed, the running config stays';

/** Which named backend a new connection through `port` reaches. */
async function whoAnswers(port: number): Promise<string> {
  const socket = await connect(port);
  try {
    return await readLine(socket);
  } finally {
    socket.destroy();
  }
}

function alive(run: Run): boolean {
  return run.child.exitCode === null && run.child.signalCode === null;
}

it('reloads when the file is rewritten in place and when a new file is renamed over it', async () => {
  const [a, b, port] = [await backend('A'), await backend('B'), await freePort()];
  const run = await startRun(tcpConfig([port], [a.address]));
  expect(await whoAnswers(port)).toBe('A');

  let mark = run.logs().length;
  writeFileSync(run.file, tcpConfig([port], [b.address]));
  const first = await run.waitForLog(reloaded, mark);
  expect(first).toMatchObject({ trigger: 'file', config: run.file, pid: run.child.pid, serversAdded: [`main/${b.address}`] });
  expect(await whoAnswers(port)).toBe('B');

  // The way vim and `sed -i` save: a new inode takes the old name.
  mark = run.logs().length;
  const tmp = join(run.file, '..', '.cfg.mjs.swp');
  writeFileSync(tmp, tcpConfig([port], [a.address]));
  renameSync(tmp, run.file);
  expect(await run.waitForLog(reloaded, mark)).toMatchObject({ trigger: 'file', pid: run.child.pid });
  expect(await whoAnswers(port)).toBe('A');

  // And edits to the new inode are still seen (a watch on the file itself would be stuck on the old one).
  mark = run.logs().length;
  writeFileSync(run.file, tcpConfig([port], [b.address]));
  expect(await run.waitForLog(reloaded, mark)).toMatchObject({ trigger: 'file', pid: run.child.pid });
  expect(await whoAnswers(port)).toBe('B');

  // Each save gave exactly one reload (the debounce), and the same process served throughout.
  await sleep(QUIET_MS);
  expect(run.logs().filter(reloaded), run.output()).toHaveLength(3);
  expect(alive(run)).toBe(true);
});

it('reloads when a Kubernetes ConfigMap volume swaps its ..data link (no event names the file)', async () => {
  const [a, b, port] = [await backend('A'), await backend('B'), await freePort()];
  const run = await startRun(tcpConfig([port], [a.address]));
  const dir = dirname(run.file);
  const name = basename(run.file);
  // The kubelet's layout: name -> ..data/name, ..data -> ..<timestamp>/ (the real files).
  const version = (stamp: string, config: string) => {
    mkdirSync(join(dir, stamp));
    writeFileSync(join(dir, stamp, name), config);
  };
  version('..2026_11_25_1', tcpConfig([port], [a.address]));
  symlinkSync('..2026_11_25_1', join(dir, '..data'));
  let mark = run.logs().length;
  symlinkSync(join('..data', name), join(dir, `${name}.tmp`));
  renameSync(join(dir, `${name}.tmp`), run.file);
  await run.waitForLog(reloaded, mark);
  expect(await whoAnswers(port)).toBe('A');

  // An update: a new timestamped directory, ..data swapped to it atomically, the old one removed.
  mark = run.logs().length;
  version('..2026_11_25_2', tcpConfig([port], [b.address]));
  symlinkSync('..2026_11_25_2', join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  rmSync(join(dir, '..2026_11_25_1'), { recursive: true });
  expect(await run.waitForLog(reloaded, mark)).toMatchObject({ trigger: 'file', serversAdded: [`main/${b.address}`] });
  expect(await whoAnswers(port)).toBe('B');
});

it('keeps the running config when a new version is broken, logging each problem with its path', async () => {
  const [a, b, port] = [await backend('A'), await backend('B'), await freePort()];
  const run = await startRun(tcpConfig([port], [b.address]));

  let mark = run.logs().length;
  const broken = {
    listeners: [{ name: 'tcp0', bind: `127.0.0.1:${port}`, mode: 'tcp', pool: 'nope' }],
    pools: { main: { servers: [{ address: a.address, weight: 0 }] } },
  };
  writeFileSync(run.file, `export default ${JSON.stringify(broken)};\n`);
  const summary = await run.waitForLog(reloadFailed, mark);
  expect(summary).toMatchObject({ level: 50, config: run.file, trigger: 'file', problems: 2 });
  const problems = run.logs().slice(mark).filter((l) => l.level === 50 && typeof l.path === 'string');
  expect(problems.map((l) => l.path).sort()).toEqual(['listeners[0].pool', 'pools.main.servers[0].weight']);
  for (const p of problems) expect(p.message, JSON.stringify(p)).toEqual(expect.any(String));
  expect(problems.find((l) => l.path === 'listeners[0].pool')?.message).toContain('"nope"');
  expect(alive(run)).toBe(true);
  expect(await whoAnswers(port)).toBe('B');

  // A file that does not even load is one problem at (file).
  mark = run.logs().length;
  writeFileSync(run.file, 'export default {\n');
  expect(await run.waitForLog(reloadFailed, mark)).toMatchObject({ problems: 1 });
  expect(run.logs().slice(mark).find((l) => l.path === '(file)')?.message).toMatch(/cannot load/);
  expect(await whoAnswers(port)).toBe('B');

  // Fixed: the next save reloads as usual.
  mark = run.logs().length;
  writeFileSync(run.file, tcpConfig([port], [a.address]));
  expect(await run.waitForLog(reloaded, mark)).toMatchObject({ trigger: 'file' });
  expect(await whoAnswers(port)).toBe('A');
  expect(run.logs().filter(reloaded)).toHaveLength(1);
});

it('with --no-watch, ignores edits and reloads on SIGHUP', async () => {
  const [a, b, port] = [await backend('A'), await backend('B'), await freePort()];
  const run = await startRun(tcpConfig([port], [a.address]), ['--no-watch']);
  expect(run.logs().find((l) => typeof l.msg === 'string' && l.msg.startsWith('epoxy running'))).toMatchObject({ watching: false });

  writeFileSync(run.file, tcpConfig([port], [b.address]));
  await sleep(QUIET_MS);
  expect(await whoAnswers(port)).toBe('A');
  expect(run.logs().filter(reloaded)).toHaveLength(0);

  const mark = run.logs().length;
  run.child.kill('SIGHUP');
  expect(await run.waitForLog(reloaded, mark)).toMatchObject({ trigger: 'signal', config: run.file });
  expect(await whoAnswers(port)).toBe('B');
  expect(alive(run)).toBe(true);
});

it('opens and closes listeners on reload, and still stops with exit 0 on SIGTERM', async () => {
  const [a, port, extra] = [await backend('A'), await freePort(), await freePort()];
  const run = await startRun(tcpConfig([port], [a.address]));
  await expect(connect(extra)).rejects.toThrow(/ECONNREFUSED/);

  let mark = run.logs().length;
  writeFileSync(run.file, tcpConfig([port, extra], [a.address]));
  expect(await run.waitForLog(reloaded, mark)).toMatchObject({ listenersAdded: [`tcp1@127.0.0.1:${extra}`] });
  expect(await whoAnswers(extra)).toBe('A');

  mark = run.logs().length;
  writeFileSync(run.file, tcpConfig([port], [a.address]));
  expect(await run.waitForLog(reloaded, mark)).toMatchObject({ listenersRemoved: [`tcp1@127.0.0.1:${extra}`] });
  await expect(connect(extra)).rejects.toThrow(/ECONNREFUSED/);
  expect(await whoAnswers(port)).toBe('A');

  const started = Date.now();
  run.child.kill('SIGTERM');
  const { code } = await run.exit;
  expect(code, run.output()).toBe(0);
  expect(Date.now() - started).toBeLessThan(3000);
  expect(run.output()).toContain('"stopped"');
});

it('ignores SIGHUP while draining, and stops without waiting for a reload in flight', async () => {
  const [a, port] = [await backend('A'), await freePort()];
  const slowAfterFirst = slowReloads(20_000, tcpConfig([port], [a.address]));
  const run = await startRun(slowAfterFirst, ['--no-watch']);

  // A session in flight keeps the proxy draining after SIGTERM.
  const session = await connect(port);
  expect(await readLine(session)).toBe('A');
  let mark = run.logs().length;
  run.child.kill('SIGTERM');
  await run.waitForLog((l) => l.signal === 'SIGTERM', mark);
  mark = run.logs().length;
  run.child.kill('SIGHUP');
  await run.waitForLog((l) => l.msg === 'SIGHUP ignored: stopping', mark);
  expect(alive(run)).toBe(true);
  session.destroy();
  expect(await run.exit, run.output()).toMatchObject({ code: 0, signal: null });
  expect(run.logs().filter((l) => l.msg === 'slow config loading')).toHaveLength(0);

  // SIGTERM while a reload is still loading the file: the stop does not wait for it.
  const again = await startRun(slowAfterFirst, ['--no-watch']);
  mark = again.logs().length;
  again.child.kill('SIGHUP');
  await again.waitForLog((l) => l.msg === 'slow config loading', mark);
  const started = Date.now();
  again.child.kill('SIGTERM');
  expect(await again.exit, again.output()).toMatchObject({ code: 0, signal: null });
  expect(Date.now() - started).toBeLessThan(3000);
  expect(again.logs().filter(reloaded)).toHaveLength(0);
});

it('runs one reload at a time: requests during a reload give exactly one more after it', async () => {
  const [a, port] = [await backend('A'), await freePort()];
  const run = await startRun(slowReloads(500, tcpConfig([port], [a.address])), ['--no-watch']);
  const loading = (l: LogLine) => l.msg === 'slow config loading';

  run.child.kill('SIGHUP');
  await run.waitForLog(loading);
  // Three more while the first is loading; spaced so the kernel cannot merge them into one.
  for (let i = 0; i < 3; i++) {
    run.child.kill('SIGHUP');
    await sleep(50);
  }
  await run.waitForLog(reloaded);
  const second = run.logs().findIndex(reloaded) + 1;
  await run.waitForLog(reloaded, second);
  await sleep(QUIET_MS);
  expect(run.logs().filter(loading), run.output()).toHaveLength(2);
  expect(run.logs().filter(reloaded)).toHaveLength(2);
  expect(await whoAnswers(port)).toBe('A');
});
