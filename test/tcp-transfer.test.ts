/** Bytes through the TCP data plane: bulk with slow readers, half-close, many concurrent sessions. */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Proxy } from '../src/index.js';
import {
  connect,
  echoBackend,
  freePort,
  hashIncoming,
  logger,
  pool,
  readAll,
  readBytes,
  rssKiB,
  startBackend,
  startChildProxy,
  writeRandom,
  type Backend,
} from './helpers.js';

const MiB = 1024 * 1024;

describe('bulk transfer with a slow reader (proxy in its own process)', () => {
  // The backend either swallows what it gets (upload) or sends 64 MiB (download).
  it('moves 64 MiB each way exactly, mostly by splice, with bounded memory', async () => {
    let uploadResult: Promise<{ sha: string; bytes: number }> | undefined;
    let downloadSha: Promise<string> | undefined;
    const upload = await startBackend((s) => {
      // The slow reader: pauses 2 s at the start and again at 32 MiB.
      uploadResult = hashIncoming(s, [1, 32 * MiB], 2000);
      void uploadResult.then(() => s.end());
    });
    const download = await startBackend((s) => {
      downloadSha = writeRandom(s, 64 * MiB).then((sha) => {
        s.end();
        return sha;
      });
    });
    const [upPort, downPort] = [await freePort(), await freePort()];
    const proxy = await startChildProxy({
      listeners: [
        { name: 'up', bind: `127.0.0.1:${upPort}`, mode: 'tcp', pool: 'upload' },
        { name: 'down', bind: `127.0.0.1:${downPort}`, mode: 'tcp', pool: 'download' },
      ],
      pools: { upload: { servers: [upload.address] }, download: { servers: [download.address] } },
    });
    try {
      const rssBefore = rssKiB(proxy.pid);

      const upClient = await connect(upPort);
      const sentSha = await writeRandom(upClient, 64 * MiB);
      upClient.end();
      await once(upClient, 'close');
      const received = await uploadResult!;
      expect(received.bytes).toBe(64 * MiB);
      expect(received.sha).toBe(sentSha);

      const downClient = await connect(downPort);
      const got = await hashIncoming(downClient, [1, 32 * MiB], 2000);
      expect(got.bytes).toBe(64 * MiB);
      expect(got.sha).toBe(await downloadSha!);

      const peakGrowthKiB = rssKiB(proxy.pid, 'VmHWM') - rssBefore;
      expect(peakGrowthKiB).toBeLessThan(32 * 1024);

      const stats = await proxy.stats();
      // Both transfers together: 128 MiB out of the proxy, nearly all through pipes.
      expect(stats.totals.bytesSpliced + stats.totals.bytesCopied).toBe(128 * MiB);
      expect(stats.totals.bytesSpliced).toBeGreaterThan(120 * MiB);
    } finally {
      await proxy.stop();
      await upload.close();
      await download.close();
    }
  }, 120_000);
});

describe('TCP sessions in process', () => {
  let proxy: Proxy;
  let echo: Backend;
  let port: number;
  let halfCloseBackend: Backend;
  let halfPort: number;
  let serverFirstBackend: Backend;
  let serverFirstPort: number;

  beforeAll(async () => {
    echo = await echoBackend();
    // Reads until the client's FIN, then answers with what it got (reversed) and ends.
    halfCloseBackend = await startBackend(
      (s) => {
        const chunks: Buffer[] = [];
        s.on('data', (c: Buffer) => chunks.push(c));
        s.on('end', () => s.end(Buffer.concat(chunks).reverse()));
      },
      { allowHalfOpen: true },
    );
    // Sends a greeting and shuts its side first, then keeps reading until the client ends.
    serverFirstBackend = await startBackend(
      (s) => {
        s.end('server done\n');
        const chunks: Buffer[] = [];
        s.on('data', (c: Buffer) => chunks.push(c));
        s.on('end', () => (s as net.Socket & { got?: Buffer }).emit('got', Buffer.concat(chunks)));
      },
      { allowHalfOpen: true },
    );
    [port, halfPort, serverFirstPort] = [await freePort(), await freePort(), await freePort()];
    proxy = await Proxy.start(
      {
        listeners: [
          { name: 'echo', bind: `127.0.0.1:${port}`, mode: 'tcp', pool: 'echo' },
          { name: 'half', bind: `127.0.0.1:${halfPort}`, mode: 'tcp', pool: 'half' },
          { name: 'serverFirst', bind: `127.0.0.1:${serverFirstPort}`, mode: 'tcp', pool: 'serverFirst' },
        ],
        pools: {
          echo: { servers: [echo.address] },
          half: { servers: [halfCloseBackend.address] },
          serverFirst: { servers: [serverFirstBackend.address] },
        },
      },
      { logger },
    );
  });

  afterAll(async () => {
    await proxy.stop({ graceMs: 500 });
    await echo.close();
    await halfCloseBackend.close();
    await serverFirstBackend.close();
  });

  it('client half-close: the backend still replies after the client stops writing', async () => {
    const client = await connect(halfPort, { allowHalfOpen: true });
    const payload = randomBytes(300_000);
    const all = readAll(client);
    client.end(payload);
    const { data, error } = await all;
    expect(error).toBeUndefined();
    expect(data.equals(Buffer.from(payload).reverse())).toBe(true);
  });

  it('server half-close: the client keeps sending after the backend finished', async () => {
    const got = new Promise<Buffer>((resolve) => {
      serverFirstBackend.server.once('connection', (s) => s.once('got', resolve));
    });
    const client = await connect(serverFirstPort, { allowHalfOpen: true });
    const closed = once(client, 'close');
    const received: Buffer[] = [];
    client.on('data', (c: Buffer) => received.push(c));
    await once(client, 'end');
    expect(Buffer.concat(received).toString()).toBe('server done\n');
    const payload = randomBytes(200_000);
    client.end(payload);
    expect((await got).equals(payload)).toBe(true);
    await closed;
  });

  it('1,000 concurrent connections each echo 64 KiB exactly', async () => {
    const results = await pool(Array.from({ length: 1000 }), 1000, async () => {
      const client = await connect(port);
      const payload = randomBytes(64 * 1024);
      const reply = readBytes(client, payload.length);
      client.write(payload);
      const back = await reply;
      client.destroy();
      return back.equals(payload);
    });
    expect(results.filter((ok) => !ok)).toHaveLength(0);
    const stats = await proxy.stats();
    expect(stats.listeners.find((l) => l.name === 'echo')!.accepted).toBeGreaterThanOrEqual(1000);
  });
});
