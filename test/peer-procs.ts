/**
 * Real nginx and haproxy processes for tests, speaking the PROXY protocol: each one in the
 * foreground as a child of the test process, on free ports, with a generated config in a private
 * temp dir (logs to the captured stderr, pid and temp files in the dir: nothing under /var).
 * A start resolves once the process holds its listening sockets (read from /proc, so no probe
 * connection reaches a backend); it fails with the config and the output if the process exits
 * first or the ports are not listening within 5 s. stop() kills by PID and waits for the exit.
 *
 * Tools come from scripts/ensure-tools.sh (Debian packages): see PEER_TOOLS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';

import { freePort, sleep } from './helpers.js';
import { ensureTools, hostPort, peerEnv, privateTempDir, withTimeout, type Certs } from './tls-peers.js';

export const NGINX = '/usr/sbin/nginx';
export const HAPROXY = '/usr/sbin/haproxy';
export const NGINX_STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';
const SETPRIV = '/usr/bin/setpriv';

/** The scripts/ensure-tools.sh pairs these peers need. */
export const PEER_TOOLS = {
  openssl: 'openssl=openssl',
  nginx: `${NGINX}=nginx`,
  nginxStream: `${NGINX_STREAM_MODULE}=libnginx-mod-stream`,
  haproxy: `${HAPROXY}=haproxy`,
} as const;

export { ensureTools };

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

export interface PeerProcess {
  name: string;
  pid: number;
  host: string;
  /** Named ports (e.g. http, https, stream, frontend). */
  ports: Record<string, number>;
  dir: string;
  configFile: string;
  config: string;
  /** Everything the process printed so far (stdout and stderr, the last 64 KiB). */
  output(): string;
  stop(): Promise<void>;
}

const children = new Map<number, ChildProcess>();
const everStarted: number[] = [];
process.once('exit', () => {
  for (const pid of children.keys()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

/** PIDs of every peer process started in this test process. */
export function peerPids(): number[] {
  return [...everStarted];
}

/** Stops every peer process still running. */
export async function stopAllPeers(): Promise<void> {
  await Promise.all([...children.keys()].map((pid) => stopPid(pid)));
}

/** Is there a process (zombies included) with this PID? */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function stopPid(pid: number): Promise<void> {
  const child = children.get(pid);
  if (!child) return;
  const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : once(child, 'exit').then(() => undefined);
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    // gone
  }
  const timer = setTimeout(() => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }, 3000);
  await exited;
  clearTimeout(timer);
  children.delete(pid);
}

/** Inodes of the LISTEN sockets on `port` (tcp or tcp6 table by the host's family). */
function listenInodes(host: string, port: number): Set<string> {
  const file = net.isIPv6(host) ? '/proc/net/tcp6' : '/proc/net/tcp';
  const out = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    if (f[1]!.endsWith(`:${hexPort}`) && f[3] === '0A') out.add(f[9]!);
  }
  return out;
}

function socketInodesOf(pid: number): Set<string> {
  const out = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

export class PeerStartError extends Error {
  constructor(
    message: string,
    readonly bindFailed: boolean,
  ) {
    super(message);
  }
}

interface ProcSpec {
  name: string;
  bin: string;
  args: string[];
  dir: string;
  configFile: string;
  config: string;
  host: string;
  ports: Record<string, number>;
}

async function startProcess(spec: ProcSpec): Promise<PeerProcess> {
  writeFileSync(spec.configFile, spec.config);
  // setpriv (util-linux) makes the kernel kill the peer if this process dies without stopping it
  // (a worker killed by a signal runs no 'exit' handler); it execs, so the PID is the peer's.
  const [bin, args] = existsSync(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'KILL', '--', spec.bin, ...spec.args]] : [spec.bin, spec.args];
  const child = spawn(bin, args, { cwd: spec.dir, stdio: ['ignore', 'pipe', 'pipe'], env: peerEnv() });
  let output = '';
  const append = (d: Buffer) => {
    output += d.toString();
    if (output.length > 65536) output = output.slice(-65536);
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  let spawnError: Error | undefined;
  child.on('error', (e) => (spawnError = e));
  const pid = child.pid;
  if (pid === undefined) {
    await once(child, 'error').catch(() => {});
    throw new PeerStartError(`${spec.name}: could not start ${spec.bin}: ${spawnError?.message ?? 'no pid'}`, false);
  }
  children.set(pid, child);
  everStarted.push(pid);
  const details = () =>
    `\ncommand: ${spec.bin} ${spec.args.join(' ')}\nconfig (${spec.configFile}):\n${spec.config}\noutput:\n${output}`;
  const deadline = Date.now() + 5000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null || spawnError) {
      children.delete(pid);
      // let the last output arrive
      await sleep(20);
      const bindFailed = /address already in use|bind\(\) to .* failed|cannot bind socket/i.test(output);
      throw new PeerStartError(`${spec.name} exited early (code ${child.exitCode}, signal ${child.signalCode}${spawnError ? `, ${spawnError.message}` : ''})${details()}`, bindFailed);
    }
    const mine = socketInodesOf(pid);
    const listening = Object.values(spec.ports).every((port) => [...listenInodes(spec.host, port)].some((i) => mine.has(i)));
    if (listening) break;
    if (Date.now() > deadline) {
      await stopPid(pid);
      throw new PeerStartError(`${spec.name}: ports ${JSON.stringify(spec.ports)} not listening within 5 s${details()}`, false);
    }
    await sleep(25);
  }
  return {
    name: spec.name,
    pid,
    host: spec.host,
    ports: spec.ports,
    dir: spec.dir,
    configFile: spec.configFile,
    config: spec.config,
    output: () => output,
    stop: () => stopPid(pid),
  };
}

/** Builds a config with fresh ports and starts it; retries (3 times) when a port was taken meanwhile. */
async function startWithPorts(host: string, names: string[], make: (ports: Record<string, number>) => ProcSpec): Promise<PeerProcess> {
  for (let attempt = 1; ; attempt++) {
    const ports: Record<string, number> = {};
    for (const n of names) ports[n] = await freePort(host);
    try {
      return await startProcess(make(ports));
    } catch (e) {
      if (!(e instanceof PeerStartError) || !e.bindFailed || attempt >= 3) throw e;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// nginx
// ---------------------------------------------------------------------------------------------

export interface NginxOptions {
  /** An HTTP server with `listen ... proxy_protocol` answering "addr=... port=...\n" (port name 'http'). */
  http?: boolean;
  /** A stream (TCP) server with proxy_protocol answering the same and closing (port name 'stream'). */
  stream?: boolean;
  /** Also an HTTPS server, `listen ... ssl proxy_protocol` (port name 'https'), answering "addr=... port=... sni=... alpn=...\n". */
  tls?: Certs;
  /** Certificate of the HTTPS server (default: the first of tls.names). */
  tlsCertName?: string;
  /** '127.0.0.1' (default) or '::1'. */
  host?: string;
}

/** nginx whose listeners expect a PROXY header (v1 or v2) and answer the client address they learned. */
export async function startNginxProxyProtocol(opts: NginxOptions = {}): Promise<PeerProcess> {
  const http = opts.http ?? !opts.stream;
  const stream = opts.stream ?? false;
  const host = opts.host ?? '127.0.0.1';
  ensureTools([PEER_TOOLS.nginx, ...(stream ? [PEER_TOOLS.nginxStream] : [])]);
  const names = [...(http ? ['http'] : []), ...(opts.tls ? ['https'] : []), ...(stream ? ['stream'] : [])];
  if (names.length === 0) throw new Error('startNginxProxyProtocol: nothing to listen on');
  const leaf = opts.tls ? opts.tls.certs[opts.tlsCertName ?? opts.tls.names[0]!] : undefined;
  if (opts.tls && !leaf) throw new Error(`startNginxProxyProtocol: no certificate ${opts.tlsCertName}`);
  const dir = privateTempDir('epoxy-nginx-');
  const answer = 'addr=$proxy_protocol_addr port=$proxy_protocol_port';
  return startWithPorts(host, names, (ports) => {
    const listen = (port: number | undefined, extra: string) => `listen ${hostPort(host, port ?? 0)}${extra};`;
    const lines: string[] = [];
    if (stream) lines.push(`load_module ${NGINX_STREAM_MODULE};`);
    lines.push(`error_log stderr notice;`, `pid ${dir}/nginx.pid;`, `events { worker_connections 1024; }`);
    if (http || opts.tls) {
      lines.push(
        'http {',
        '  access_log off;',
        '  default_type text/plain;',
        `  client_body_temp_path ${dir}/client_body;`,
        `  proxy_temp_path ${dir}/proxy;`,
        `  fastcgi_temp_path ${dir}/fastcgi;`,
        `  uwsgi_temp_path ${dir}/uwsgi;`,
        `  scgi_temp_path ${dir}/scgi;`,
      );
      if (http) lines.push('  server {', `    ${listen(ports['http'], ' proxy_protocol')}`, `    location / { return 200 "${answer}\\n"; }`, '  }');
      if (leaf) {
        lines.push(
          '  server {',
          `    ${listen(ports['https'], ' ssl proxy_protocol')}`,
          `    ssl_certificate ${leaf.certFile};`,
          `    ssl_certificate_key ${leaf.keyFile};`,
          `    location / { return 200 "${answer} sni=$ssl_server_name alpn=$ssl_alpn_protocol\\n"; }`,
          '  }',
        );
      }
      lines.push('}');
    }
    if (stream) lines.push('stream {', '  server {', `    ${listen(ports['stream'], ' proxy_protocol')}`, `    return "${answer}\\n";`, '  }', '}');
    const config = `${lines.join('\n')}\n`;
    const configFile = path.join(dir, 'nginx.conf');
    return {
      name: 'nginx',
      bin: NGINX,
      args: ['-e', 'stderr', '-p', `${dir}/`, '-c', configFile, '-g', 'daemon off; master_process off;'],
      dir,
      configFile,
      config,
      host,
      ports,
    };
  });
}

// ---------------------------------------------------------------------------------------------
// haproxy
// ---------------------------------------------------------------------------------------------

/** haproxy's address syntax: ipv4@a:p or ipv6@a:p (no ambiguity with the IPv6 colons). */
const haAddr = (host: string, port: number) => `${net.isIPv6(host) ? 'ipv6' : 'ipv4'}@${host}:${port}`;

const HAPROXY_HEAD = [
  'global',
  '  maxconn 4096',
  'defaults',
  '  timeout connect 5s',
  '  timeout client 60s',
  '  timeout server 60s',
];

/** haproxy in HTTP mode behind `bind ... accept-proxy`, answering "addr=<src> port=<src_port>\n" (port name 'frontend'). */
export async function startHaproxyAcceptProxy(opts: { host?: string } = {}): Promise<PeerProcess> {
  const host = opts.host ?? '127.0.0.1';
  ensureTools([PEER_TOOLS.haproxy]);
  const dir = privateTempDir('epoxy-haproxy-');
  return startWithPorts(host, ['frontend'], (ports) => {
    const config = `${[
      ...HAPROXY_HEAD,
      '  mode http',
      'frontend fe',
      `  bind ${haAddr(host, ports['frontend']!)} accept-proxy`,
      '  http-request return status 200 content-type text/plain lf-string "addr=%[src] port=%[src_port]\\n"',
    ].join('\n')}\n`;
    const configFile = path.join(dir, 'haproxy.cfg');
    return { name: 'haproxy accept-proxy', bin: HAPROXY, args: ['-db', '-f', configFile], dir, configFile, config, host, ports };
  });
}

export interface SendProxyOptions {
  targetPort: number;
  version: 'v1' | 'v2';
  /** Where the frontend listens: '127.0.0.1' (default) or '::1'. */
  host?: string;
  targetHost?: string;
  /** v2: `proxy-v2-options` (e.g. ['crc32c', 'unique-id']; unique-id uses a fixed unique-id-format). */
  v2Options?: string[];
}

/** haproxy in TCP mode forwarding to targetPort with send-proxy / send-proxy-v2: a load balancer in front (port name 'frontend'). */
export async function startHaproxySendProxy(opts: SendProxyOptions): Promise<PeerProcess> {
  const host = opts.host ?? '127.0.0.1';
  const targetHost = opts.targetHost ?? '127.0.0.1';
  ensureTools([PEER_TOOLS.haproxy]);
  const dir = privateTempDir('epoxy-haproxy-');
  const send = opts.version === 'v1' ? 'send-proxy' : `send-proxy-v2${opts.v2Options?.length ? ` proxy-v2-options ${opts.v2Options.join(',')}` : ''}`;
  return startWithPorts(host, ['frontend'], (ports) => {
    const config = `${[
      ...HAPROXY_HEAD,
      '  mode tcp',
      'frontend fe',
      `  bind ${haAddr(host, ports['frontend']!)}`,
      ...(opts.v2Options?.includes('unique-id') ? ['  unique-id-format %ci:%cp_%fi:%fp_%Ts_%rt'] : []),
      '  default_backend be',
      'backend be',
      `  server s1 ${haAddr(targetHost, opts.targetPort)} ${send}`,
    ].join('\n')}\n`;
    const configFile = path.join(dir, 'haproxy.cfg');
    return { name: `haproxy ${send}`, bin: HAPROXY, args: ['-db', '-f', configFile], dir, configFile, config, host, ports };
  });
}

// ---------------------------------------------------------------------------------------------
// Clients for these peers
// ---------------------------------------------------------------------------------------------

export interface HttpReply {
  status: number;
  headers: string;
  body: string;
  /** The client's own port, as a PROXY header should carry it. */
  localPort: number;
  localAddress: string;
}

/**
 * GET / over HTTP/1.0 (Connection: close) on a raw socket, or over TLS when `tls` is given
 * (chain checked against tls.ca, SNI = tls.servername).
 */
export async function httpGet(
  port: number,
  o: { host?: string; path?: string; tls?: { ca: string; servername: string; alpn?: string[] }; timeoutMs?: number } = {},
): Promise<HttpReply> {
  const host = o.host ?? '127.0.0.1';
  const socket: net.Socket = o.tls
    ? tls.connect({ host, port, ca: o.tls.ca, servername: o.tls.servername, rejectUnauthorized: true, ...(o.tls.alpn ? { ALPNProtocols: o.tls.alpn } : {}) })
    : net.connect({ host, port });
  try {
    return await withTimeout(
      new Promise<HttpReply>((resolve, reject) => {
        const chunks: Buffer[] = [];
        socket.on(o.tls ? 'secureConnect' : 'connect', () => {
          socket.write(`GET ${o.path ?? '/'} HTTP/1.0\r\nHost: ${o.tls?.servername ?? 'localhost'}\r\nConnection: close\r\n\r\n`);
        });
        socket.on('data', (c: Buffer) => chunks.push(c));
        socket.on('error', reject);
        socket.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          const sep = text.indexOf('\r\n\r\n');
          const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
          if (!m || sep < 0) {
            reject(new Error(`not an HTTP response from ${hostPort(host, port)}: ${JSON.stringify(text)}`));
            return;
          }
          resolve({ status: Number(m[1]), headers: text.slice(0, sep), body: text.slice(sep + 4), localPort: socket.localPort ?? 0, localAddress: socket.localAddress ?? '' });
        });
      }),
      o.timeoutMs ?? 5000,
      `httpGet ${hostPort(host, port)}`,
    );
  } finally {
    socket.destroy();
  }
}

/** Connects, reads until the server closes (e.g. nginx stream `return`), resolves with the text. */
export async function tcpRead(port: number, o: { host?: string; timeoutMs?: number } = {}): Promise<{ text: string; localPort: number; localAddress: string }> {
  const host = o.host ?? '127.0.0.1';
  const socket = net.connect({ host, port });
  try {
    return await withTimeout(
      new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        let localPort = 0;
        let localAddress = '';
        socket.on('connect', () => {
          localPort = socket.localPort ?? 0;
          localAddress = socket.localAddress ?? '';
        });
        socket.on('data', (c: Buffer) => chunks.push(c));
        socket.on('error', reject);
        socket.on('close', () => resolve({ text: Buffer.concat(chunks).toString(), localPort, localAddress }));
      }),
      o.timeoutMs ?? 5000,
      `tcpRead ${hostPort(host, port)}`,
    );
  } finally {
    socket.destroy();
  }
}
