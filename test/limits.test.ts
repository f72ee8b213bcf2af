/** Running out of file descriptors: the listener pauses instead of spinning, then recovers. */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import type * as net from 'node:net';
import { expect, it } from 'vitest';

import { connect, cpuMs, echoBackend, freePort, readBytes, sleep, startChildProxy } from './helpers.js';

function setFdLimit(pid: number, soft: number): void {
  const hard = execFileSync('prlimit', ['--pid', String(pid), '--nofile', '--output', 'HARD', '--noheadings']).toString().trim();
  execFileSync('prlimit', ['--pid', String(pid), `--nofile=${soft}:${hard}`]);
}

/** The RLIMIT_NOFILE value that leaves exactly `free` fd numbers unused below it. */
function limitLeaving(pid: number, free: number): number {
  const used = new Set(readdirSync(`/proc/${pid}/fd`).map(Number));
  let below = 0;
  for (let limit = 1; ; limit++) {
    if (used.has(limit - 1)) below++;
    if (limit - below === free) return limit;
  }
}

it('EMFILE: accept pauses without burning CPU, and the proxy serves again once fds free up', async () => {
  const echo = await echoBackend();
  const port = await freePort();
  const proxy = await startChildProxy({
    listeners: [{ name: 'l', bind: `127.0.0.1:${port}`, mode: 'tcp', pool: 'p' }],
    pools: { p: { servers: [echo.address], retries: 0 } },
  });
  try {
    // Room for exactly two sessions (a client fd and a server fd each): the third accept() fails.
    setFdLimit(proxy.pid, limitLeaving(proxy.pid, 4));
    const clients: net.Socket[] = [];
    for (let i = 0; i < 30; i++) {
      const c = await connect(port); // the kernel completes the handshake; accept() is what fails
      c.on('error', () => {});
      clients.push(c);
    }
    await sleep(300);
    const before = cpuMs(proxy.pid);
    await sleep(1500);
    const used = cpuMs(proxy.pid) - before;
    // A listener spinning on EMFILE would burn the whole 1500 ms.
    expect(used).toBeLessThan(150);

    clients.forEach((c) => c.destroy());
    setFdLimit(proxy.pid, 20000);
    await sleep(300); // the paused listener retries on its timer
    const c = await connect(port);
    const reply = readBytes(c, 5);
    c.write('again');
    expect((await reply).toString()).toBe('again');
    c.destroy();

    const stats = await proxy.stats();
    const listener = stats.listeners[0]!;
    const server = stats.pools[0]!.servers[0]!;
    expect(listener.acceptErrors).toBeGreaterThan(0);
    expect(server.connectFailures).toBe(0);
  } finally {
    await proxy.stop();
    await echo.close();
  }
});

it('a server connection this host cannot open (EMFILE) is not the server\'s failure: no connect failure, no ejection, the client is closed', async () => {
  const echo = await echoBackend();
  const port = await freePort();
  const proxy = await startChildProxy({
    listeners: [{ name: 'l', bind: `127.0.0.1:${port}`, mode: 'tcp', pool: 'p' }],
    pools: { p: { servers: [echo.address], retries: 2, passive: { errors: 1 } } },
  });
  try {
    // One free fd: accept() takes it, so socket() for the server connection fails (EMFILE).
    setFdLimit(proxy.pid, limitLeaving(proxy.pid, 1));
    for (let i = 0; i < 3; i++) {
      const c = await connect(port);
      c.on('error', () => {});
      await new Promise<void>((resolve) => {
        c.once('close', () => resolve());
        setTimeout(() => resolve(), 2000);
      });
      c.destroy();
    }
    setFdLimit(proxy.pid, 20000);
    const stats = await proxy.stats();
    for (const pool of stats.pools) {
      expect(pool.servers[0]!.connectFailures, pool.name).toBe(0);
      expect(pool.servers[0]!.ejections, pool.name).toBe(0);
      expect(pool.noServer, pool.name).toBeGreaterThanOrEqual(1);
    }
    // The server still takes sessions: passive health (errors: 1) did not eject it.
    const c = await connect(port);
    const reply = readBytes(c, 5);
    c.write('again');
    expect((await reply).toString()).toBe('again');
    c.destroy();
  } finally {
    await proxy.stop();
    await echo.close();
  }
});
