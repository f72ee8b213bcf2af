/**
 * The harness's own promises: freePort() hands out ports the kernel will not give to another
 * test's connect() or bind(0) between the moment the port is chosen and the moment the proxy
 * under test binds it (the race behind two flaky reload tests).
 */
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import { once } from 'node:events';
import { expect, it } from 'vitest';

import { freePort, portSlice } from './helpers.js';

const [ephemeralLow] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);

it('hands out ports below the ephemeral range, in this worker\'s slice, each once', async () => {
  const { first, last } = portSlice();
  expect(last).toBeLessThan(ephemeralLow!);
  const ports = await Promise.all(Array.from({ length: 50 }, () => freePort()));
  expect(new Set(ports).size).toBe(50);
  for (const port of ports) {
    expect(port).toBeGreaterThanOrEqual(first);
    expect(port).toBeLessThanOrEqual(last);
  }
});

it('never hands out a port something else holds', async () => {
  const { first, last } = portSlice();
  const held: net.Server[] = [];
  try {
    // Hold the next ports this worker would try; freePort must step over them.
    const probe = await freePort();
    for (let p = probe + 1; p <= Math.min(probe + 5, last); p++) {
      const srv = net.createServer().listen(p, '127.0.0.1');
      await once(srv, 'listening');
      held.push(srv);
    }
    const next = await freePort();
    const heldPorts = held.map((s) => (s.address() as net.AddressInfo).port);
    expect(heldPorts).not.toContain(next);
    expect(next).toBeGreaterThanOrEqual(first);
  } finally {
    await Promise.all(held.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
});

it('a port from freePort() can be bound by the caller', async () => {
  const port = await freePort();
  const srv = net.createServer().listen(port, '127.0.0.1');
  await once(srv, 'listening');
  await new Promise<void>((resolve) => srv.close(() => resolve()));
});
