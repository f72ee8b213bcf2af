/**
 * `npm start`: a self-contained tour. Two echo backends on ephemeral ports, epoxy in front of
 * them on 127.0.0.1:8080 (or a free port), and instructions for poking at it with nc.
 */
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { EpoxyConfig } from '../config/types.js';
import { createLogger } from '../log/logger.js';
import { Proxy } from '../proxy.js';
import { printFailure } from './report.js';
import { shutdownOnSignal } from './signals.js';

const HOST = '127.0.0.1';
const PREFERRED_PORT = 8080;

interface Backend {
  label: string;
  address: string;
  close(): Promise<void>;
}

/** A backend that greets each connection with its own name, then echoes what it receives. */
async function startBackend(label: string): Promise<Backend> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // A client that disappears mid-echo is normal here; without a handler it would crash the demo.
    socket.on('error', () => socket.destroy());
    socket.write(`hello from backend ${label} (${address})\n`);
    socket.pipe(socket);
  });
  await listen(server, 0);
  const address = `${HOST}:${(server.address() as AddressInfo).port}`;
  return {
    label,
    address,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function listen(server: net.Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** 8080 when it is free, else any free port (8080 is a popular port on a dev machine). */
async function pickPort(): Promise<number> {
  const probe = net.createServer();
  try {
    await listen(probe, PREFERRED_PORT);
  } catch {
    await listen(probe, 0);
  }
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

function instructions(port: number, backends: Backend[]): string {
  const lines = [
    '',
    `epoxy demo: proxying TCP ${HOST}:${port} -> ${backends.map((b) => `${b.label} (${b.address})`).join(', ')}, round robin`,
    '',
    'Try it from another terminal:',
    `  nc ${HOST} ${port}`,
    '  Each connection is greeted by the backend that got it; type a line and it is echoed back.',
    '  Run nc twice (or more) to see the connections alternate between backend A and backend B.',
    '',
    'Press Ctrl-C to stop (twice to stop without waiting).',
    '',
  ];
  return lines.join('\n');
}

async function main(): Promise<number> {
  // Quiet by default so the instructions stay readable; EPOXY_LOG_LEVEL=info shows the proxy's log.
  const logger = createLogger({ level: process.env['EPOXY_LOG_LEVEL'] ?? 'warn' });
  const backends = [await startBackend('A'), await startBackend('B')];
  const closeBackends = () => Promise.all(backends.map((b) => b.close())).then(() => undefined);

  const port = await pickPort();
  const config: EpoxyConfig = {
    listeners: [{ name: 'demo', bind: `${HOST}:${port}`, mode: 'tcp', pool: 'backends' }],
    pools: { backends: { balance: 'roundrobin', servers: backends.map((b) => b.address) } },
  };

  let proxy: Proxy;
  try {
    proxy = await Proxy.start(config, { logger });
  } catch (err) {
    printFailure('demo config', err);
    await closeBackends();
    return 1;
  }
  process.stdout.write(instructions(port, backends));

  return shutdownOnSignal(logger, async () => {
    process.stdout.write('\nstopping...\n');
    await proxy.stop();
    await closeBackends();
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`epoxy demo: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
