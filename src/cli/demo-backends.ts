/**
 * The pieces `npm start` (demo.ts) puts behind epoxy: small HTTP and TCP echo backends on
 * ephemeral ports, each naming itself in what it sends, and the ports the demo listens on.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';

export const HOST = '127.0.0.1';

export interface Backend {
  label: string;
  /** `127.0.0.1:port` */
  address: string;
  close(): Promise<void>;
}

/** An HTTP server that answers every request with `served by backend <label>`. */
export async function startHttpBackend(label: string): Promise<Backend> {
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`served by backend ${label}\n`);
  });
  // Longer than the proxy keeps idle server connections, so it is the proxy that closes them.
  server.keepAliveTimeout = 60_000;
  await listen(server, 0);
  return {
    label,
    address: `${HOST}:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A TCP server that greets each connection with its name, then echoes what it receives. */
export async function startEchoBackend(label: string): Promise<Backend> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // A client that disappears mid-echo is normal here; without a handler it would crash the demo.
    socket.on('error', () => socket.destroy());
    socket.write(`hello from echo backend ${label}\n`);
    socket.pipe(socket);
  });
  await listen(server, 0);
  return {
    label,
    address: `${HOST}:${(server.address() as AddressInfo).port}`,
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

/**
 * One port per wish: the wished port when it is free, else (or for a wish of 0) a free port.
 * Every probe stays open until all are chosen, so the ports are distinct. The proxy binds them
 * a moment later; demo.ts tries again should another process take one in between.
 */
export async function pickPorts(wishes: number[]): Promise<number[]> {
  const probes: net.Server[] = [];
  try {
    for (const wish of wishes) {
      const probe = net.createServer();
      probes.push(probe);
      await listen(probe, wish).catch(() => listen(probe, 0));
    }
    return probes.map((p) => (p.address() as AddressInfo).port);
  } finally {
    await Promise.all(probes.map((p) => new Promise<void>((resolve) => (p.listening ? p.close(() => resolve()) : resolve()))));
  }
}
