/** Failures on either side: refused servers, black holes, resets. Nothing may hang. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type * as net from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { Proxy } from '../src/index.js';
import { connect, freePort, logger, namedBackend, readAll, readLine, startBackend, type Backend } from './helpers.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function proxyFor(pool: Record<string, unknown>, timeouts: Record<string, number> = {}): Promise<{ proxy: Proxy; port: number }> {
  const port = await freePort();
  const proxy = await Proxy.start(
    { listeners: [{ name: 'l', bind: `127.0.0.1:${port}`, mode: 'tcp', pool: 'p' }], pools: { p: pool as never }, timeouts },
    { logger },
  );
  cleanups.push(() => proxy.stop({ graceMs: 200 }));
  return { proxy, port };
}

async function backend(b: Promise<Backend>): Promise<Backend> {
  const started = await b;
  cleanups.push(() => started.close());
  return started;
}

describe('refused servers', () => {
  it('tries the next server when one refuses, for every connection', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const live = await backend(namedBackend('live'));
    const { proxy, port } = await proxyFor({ servers: [dead, live.address] });
    for (let i = 0; i < 10; i++) {
      const c = await connect(port);
      expect(await readLine(c)).toBe('live');
      c.destroy();
    }
    const stats = await proxy.stats();
    const servers = stats.pools[0]!.servers;
    expect(servers.find((s) => s.address === dead)!.connectFailures).toBeGreaterThanOrEqual(5);
    expect(servers.find((s) => s.address === live.address)!.sessions).toBe(10);
  });

  it('closes the client promptly when every server refuses', async () => {
    const dead = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
    const { proxy, port } = await proxyFor({ servers: dead });
    const started = Date.now();
    const c = await connect(port);
    const { data } = await readAll(c);
    expect(data.length).toBe(0);
    expect(Date.now() - started).toBeLessThan(1000);
    const stats = await proxy.stats();
    expect(stats.pools[0]!.noServer).toBe(1);
    expect(stats.pools[0]!.servers.reduce((n, s) => n + s.connectFailures, 0)).toBe(2);
  });
});

describe('connect timeout', () => {
  let hole: ChildProcess | undefined;
  afterAll(() => hole?.kill());

  // A listener with a full accept queue that never accepts: further SYNs are dropped, so a
  // connect to it neither succeeds nor fails — it hangs, like a black-holed address.
  async function blackHole(): Promise<{ port: number; fillers: net.Socket[] }> {
    hole = spawn('python3', ['-c', 'import socket,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(120)']);
    const [line] = (await once(hole.stdout!, 'data')) as [Buffer];
    const port = Number(line.toString().trim());
    const fillers: net.Socket[] = [];
    for (let i = 0; i < 3; i++) {
      const s = (await import('node:net')).connect(port, '127.0.0.1');
      s.on('error', () => {});
      fillers.push(s);
    }
    await new Promise((r) => setTimeout(r, 200));
    return { port, fillers };
  }

  it('gives up on a server that never answers after connectMs, then closes the client', async () => {
    const { port: holePort, fillers } = await blackHole();
    cleanups.push(() => fillers.forEach((s) => s.destroy()));
    const { proxy, port } = await proxyFor({ servers: [`127.0.0.1:${holePort}`], retries: 0 }, { connectMs: 300 });
    const started = Date.now();
    const c = await connect(port);
    await readAll(c);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(3000);
    const stats = await proxy.stats();
    expect(stats.pools[0]!.servers[0]!.connectFailures).toBe(1);
    expect(stats.pools[0]!.noServer).toBe(1);
  });

  it('redispatches to a live server after a timed-out connect', async () => {
    const { port: holePort, fillers } = await blackHole();
    cleanups.push(() => fillers.forEach((s) => s.destroy()));
    const live = await backend(namedBackend('live'));
    const { port } = await proxyFor({ servers: [`127.0.0.1:${holePort}`, live.address] }, { connectMs: 300 });
    for (let i = 0; i < 2; i++) {
      const c = await connect(port);
      expect(await readLine(c)).toBe('live');
      c.destroy();
    }
  });
});

describe('resets', () => {
  it('a server reset mid-transfer closes the client side, nothing hangs', async () => {
    const resetting = await backend(
      startBackend((s) => {
        s.write(Buffer.alloc(100_000, 1));
        setTimeout(() => s.resetAndDestroy(), 100);
      }),
    );
    const { proxy, port } = await proxyFor({ servers: [resetting.address] });
    const c = await connect(port);
    const { data, error } = await readAll(c);
    expect(data.length).toBeLessThanOrEqual(100_000);
    // The reset is passed on as a reset, so the client cannot mistake it for a clean end.
    expect(error?.message).toMatch(/ECONNRESET/);
    const stats = await proxy.stats();
    expect(stats.totals.active).toBe(0);
    expect(stats.totals.aborts).toBe(1);
  });

  it('a client reset mid-transfer closes the server side', async () => {
    let serverClosed: Promise<unknown> = Promise.resolve();
    const sink = await backend(
      startBackend((s) => {
        serverClosed = new Promise((resolve) => s.on('close', resolve));
        s.resume();
      }),
    );
    const { proxy, port } = await proxyFor({ servers: [sink.address] });
    const c = await connect(port);
    c.write(Buffer.alloc(50_000, 2));
    await new Promise((r) => setTimeout(r, 100));
    c.resetAndDestroy();
    await serverClosed;
    expect((await proxy.stats()).totals.active).toBe(0);
  });
});

describe('timeouts', () => {
  it('closes a session idle for longer than tunnelMs, and not before', async () => {
    const echo = await backend(startBackend((s) => s.pipe(s)));
    const { proxy, port } = await proxyFor({ servers: [echo.address] }, { tunnelMs: 400 });
    const c = await connect(port);
    const all = readAll(c);
    // Activity every 200 ms keeps it open past the timeout...
    for (let i = 0; i < 4; i++) {
      c.write('x');
      await new Promise((r) => setTimeout(r, 200));
    }
    expect((await proxy.stats()).totals.active).toBe(1);
    // ...then silence closes it.
    const quiet = Date.now();
    const { data } = await all;
    expect(data.toString()).toBe('xxxx');
    expect(Date.now() - quiet).toBeGreaterThanOrEqual(150);
    expect(Date.now() - quiet).toBeLessThan(2000);
  });
});

describe('end of stream arriving with the last bytes', () => {
  it('passes the server FIN on even when it comes in the same event as the data (HTTP/1.0 style)', async () => {
    // Reply and close at once: data and FIN reach the proxy together, so the read of the data
    // is short and the end of stream must still be read — there is no later edge for it.
    const closer = await backend(startBackend((s) => s.once('data', () => s.end(Buffer.alloc(1259, 7)))));
    const { port } = await proxyFor({ servers: [closer.address] });
    for (let i = 0; i < 50; i++) {
      const c = await connect(port);
      const started = Date.now();
      const done = readAll(c);
      c.write('GET / HTTP/1.0\r\n\r\n');
      const { data } = await done;
      expect(data.length).toBe(1259);
      expect(Date.now() - started).toBeLessThan(1000);
    }
  });
});
