/**
 * listeners[].congestion and pools.<name>.congestion (TCP_CONGESTION): the proxy's own sockets
 * use the algorithm asked for — client side through the listening socket, server side on each
 * connect, in TCP and HTTP mode — while its peers keep the system's; a reload changes a kept
 * listener; the config check refuses names this host cannot give. `ss -ti` reads the sockets.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import { checkCongestion } from '../src/config/congestion.js';
import type { ConfigIssue } from '../src/config/types.js';
import { Proxy, resolveConfig, type EpoxyConfig } from '../src/index.js';
import { connect, echoBackend, freePort, logger, readBytes } from './helpers.js';
import { httpBackend, request } from './http-helpers.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const proc = (name: string) => readFileSync(`/proc/sys/net/ipv4/${name}`, 'utf8').trim();
const systemDefault = proc('tcp_congestion_control');
const available = proc('tcp_available_congestion_control').split(/\s+/);
/** An algorithm other than the system's: reno is built into every kernel. */
const other = systemDefault === 'reno' ? available.find((a) => a !== 'reno')! : 'reno';

/** The congestion control of the established socket with local port `local` and remote port `remote`. */
function congestionOf(local: number, remote: number): string {
  const out = execFileSync('ss', ['-tinH', 'state', 'established', `( sport = :${local} and dport = :${remote} )`], { encoding: 'utf8' });
  const tokens = out.split(/\s+/);
  const found = tokens.find((t) => available.includes(t));
  if (!found) throw new Error(`no socket ${local} -> ${remote} in ss output: ${JSON.stringify(out)}`);
  return found;
}

async function start(config: EpoxyConfig): Promise<Proxy> {
  const proxy = await Proxy.start(config, { logger });
  cleanups.push(() => proxy.stop({ graceMs: 100 }));
  return proxy;
}

/** A client connection through the proxy, and the port of the proxy's connection to the backend. */
async function tcpSession(port: number, backendPort: number, seen: net.Socket[]) {
  const client = await connect(port);
  cleanups.push(async () => client.destroy());
  const echoed = readBytes(client, 5);
  client.write('hello');
  expect((await echoed).toString()).toBe('hello');
  const upstream = seen[seen.length - 1]!;
  return { clientPort: client.localPort!, upstreamPort: upstream.remotePort!, backendPort };
}

describe('congestion control', () => {
  it(`sets ${other} on the proxy's client and server sockets in TCP mode; peers keep ${systemDefault}; a reload changes a kept listener`, async () => {
    const seen: net.Socket[] = [];
    const backend = await echoBackend();
    cleanups.push(() => backend.close());
    backend.server.on('connection', (s: net.Socket) => seen.push(s));
    const port = await freePort();
    const config = (congestion: string | undefined): EpoxyConfig => ({
      listeners: [{ name: 'tcp', bind: `127.0.0.1:${port}`, mode: 'tcp', pool: 'echo', ...(congestion ? { congestion } : {}) }],
      pools: { echo: { servers: [backend.address], congestion: other } },
    });
    const proxy = await start(config(other));

    const s = await tcpSession(port, backend.port, seen);
    expect(congestionOf(port, s.clientPort)).toBe(other);  // accepted: inherits the listener's
    expect(congestionOf(s.upstreamPort, s.backendPort)).toBe(other);  // the proxy's connect
    expect(congestionOf(s.clientPort, port)).toBe(systemDefault);  // the test's own sockets
    expect(congestionOf(s.backendPort, s.upstreamPort)).toBe(systemDefault);

    // Same bind: the listening socket stays and goes back to the system's algorithm.
    await proxy.reload(config(undefined));
    const after = await tcpSession(port, backend.port, seen);
    expect(congestionOf(port, after.clientPort)).toBe(systemDefault);
    expect(congestionOf(after.upstreamPort, after.backendPort)).toBe(other);
  });

  it('sets the pool algorithm on pooled HTTP server connections', async () => {
    const backend = await httpBackend('A');
    cleanups.push(() => backend.close());
    const upstream: net.Socket[] = [];
    backend.server.on('connection', (s: net.Socket) => upstream.push(s));
    const port = await freePort();
    await start({
      listeners: [{ name: 'web', bind: `127.0.0.1:${port}`, mode: 'http', routes: [{ pool: 'web' }], congestion: other }],
      pools: { web: { servers: [backend.address], congestion: other } },
    });
    expect((await request(port, { path: '/' })).status).toBe(200);
    const s = upstream[0]!;
    expect(congestionOf(s.remotePort!, s.localPort!)).toBe(other);
    expect(congestionOf(s.localPort!, s.remotePort!)).toBe(systemDefault);
  });

  it('refuses names the host lacks or this process may not use, naming the field', async () => {
    const base = (congestion: unknown, poolCongestion?: unknown) => ({
      listeners: [{ name: 'web', bind: '127.0.0.1:8080', mode: 'tcp', pool: 'p', congestion }],
      pools: { p: { servers: ['127.0.0.1:9001'], ...(poolCongestion === undefined ? {} : { congestion: poolCongestion }) } },
    });
    const issues = async (config: unknown) => {
      const r = await resolveConfig(config);
      return r.ok ? [] : r.issues;
    };
    expect(await issues(base('nosuchcc', 'nosuchcc2'))).toEqual([
      { path: 'listeners[0].congestion', message: expect.stringMatching(/^"nosuchcc" is not available on this host \(net.ipv4.tcp_available_congestion_control: .*reno.*; a module may need loading first: modprobe tcp_nosuchcc\)$/) },
      { path: 'pools.p.congestion', message: expect.stringContaining('"nosuchcc2" is not available on this host') },
    ]);
    for (const bad of ['Cubic!', '', 'a'.repeat(16), 7]) {
      expect(await issues(base(bad)), String(bad)).toEqual([
        { path: 'listeners[0].congestion', message: expect.stringMatching(/^must be a TCP congestion control name such as "cubic" .*, got /) },
      ]);
    }
    expect(await issues(base(other, other))).toEqual([]);

    // Without CAP_NET_ADMIN only the allowed list is open (the host is made up: tests run as root).
    const found: ConfigIssue[] = [];
    checkCongestion(base('cubic', 'reno'), { available: ['reno', 'cubic', 'bbr'], allowed: ['reno', 'bbr'], privileged: false }, found);
    expect(found).toEqual([
      { path: 'listeners[0].congestion', message: '"cubic" needs CAP_NET_ADMIN: without it net.ipv4.tcp_allowed_congestion_control permits only reno, bbr' },
    ]);
  });
});
