/**
 * Clients for the peer servers' line protocol (see servers.ts): node:tls (tlsConnect,
 * tlsRequest), plain TCP (plainRequest), bulk transfers on an open connection (bulkDownload,
 * bulkUpload), and `openssl s_client` (opensslClient).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as net from 'node:net';
import * as tls from 'node:tls';

import { readLine, writeRandom } from '../helpers.js';
import { ensureTools, hostPort, peerEnv, withTimeout } from './tools.js';

export interface TlsRequestOptions {
  host?: string;
  /** SNI to send; undefined sends none (and the certificate is then checked against verifyName, if given). */
  servername?: string;
  alpn?: string[];
  ca: string;
  /** Name to check the certificate against when no servername is sent. */
  verifyName?: string;
  line?: string;
  timeoutMs?: number;
}

export interface TlsReply {
  line: string;
  alpn: string | false;
  /** The client's own port, as the server (or a PROXY header) should see it. */
  localPort: number;
  localAddress: string;
}

/** A connected node:tls client (handshake done, chain checked against `ca`; see TlsRequestOptions for SNI). */
export async function tlsConnect(port: number, o: Omit<TlsRequestOptions, 'line'>): Promise<tls.TLSSocket> {
  const host = o.host ?? '127.0.0.1';
  const socket = tls.connect({
    host,
    port,
    ca: o.ca,
    rejectUnauthorized: true,
    // node:tls sends no SNI for an IP host and an empty servername (a capture in peers.test.ts checks it).
    servername: o.servername ?? '',
    ...(o.alpn ? { ALPNProtocols: o.alpn } : {}),
    checkServerIdentity: (_h, cert) => {
      const name = o.servername ?? o.verifyName;
      return name === undefined ? undefined : tls.checkServerIdentity(name, cert);
    },
  });
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        socket.once('secureConnect', resolve);
        socket.once('error', reject);
      }),
      o.timeoutMs ?? 5000,
      `TLS handshake with ${hostPort(host, port)}`,
    );
  } catch (e) {
    socket.destroy();
    throw e;
  }
  socket.on('error', () => {});
  return socket;
}

/** Connects with node:tls, sends one line, resolves with the first reply line. */
export async function tlsRequest(port: number, o: TlsRequestOptions): Promise<TlsReply> {
  const socket = await tlsConnect(port, o);
  try {
    socket.write(`${o.line ?? 'hello'}\n`);
    const line = await withTimeout(readLine(socket), o.timeoutMs ?? 5000, `tlsRequest to ${hostPort(o.host ?? '127.0.0.1', port)}: no reply`);
    return { line, alpn: socket.alpnProtocol ?? false, localPort: socket.localPort ?? 0, localAddress: socket.localAddress ?? '' };
  } finally {
    socket.destroy();
  }
}

/**
 * Asks a peer server for `bytes` random bytes ("bulk N") on an open connection and hashes them
 * as they come; resolves with what arrived and the sha256 the server says it sent.
 */
export function bulkDownload(socket: net.Socket, bytes: number): Promise<{ received: number; sha: string; serverSha: string }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let received = 0;
    let tail = '';
    const onData = (c: Buffer) => {
      let chunk = c;
      if (received < bytes) {
        const take = Math.min(bytes - received, chunk.length);
        hash.update(chunk.subarray(0, take));
        received += take;
        chunk = chunk.subarray(take);
      }
      if (chunk.length === 0) return;
      tail += chunk.toString('latin1');
      const nl = tail.indexOf('\n');
      if (nl < 0) return;
      done();
      resolve({ received, sha: hash.digest('hex'), serverSha: tail.slice(0, nl) });
    };
    const onClose = () => {
      done();
      reject(new Error(`bulkDownload: closed after ${received} of ${bytes} bytes`));
    };
    const done = () => {
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.write(`bulk ${bytes}\n`);
  });
}

/** Sends "upload N" and `bytes` random bytes (honouring backpressure); resolves with their sha256 and the server's. */
export async function bulkUpload(socket: net.Socket, bytes: number): Promise<{ sentSha: string; serverSha: string }> {
  const reply = readLine(socket);
  socket.write(`upload ${bytes}\n`);
  const sentSha = await writeRandom(socket, bytes);
  return { sentSha, serverSha: await reply };
}

/** Plain TCP: sends one line, resolves with the first reply line. */
export async function plainRequest(port: number, o: { host?: string; line?: string; timeoutMs?: number } = {}): Promise<{ line: string; localPort: number; localAddress: string }> {
  const host = o.host ?? '127.0.0.1';
  const socket = net.connect({ host, port });
  socket.on('error', () => {});
  try {
    return await withTimeout(
      (async () => {
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('error', reject);
        });
        socket.write(`${o.line ?? 'hello'}\n`);
        const line = await readLine(socket);
        return { line, localPort: socket.localPort ?? 0, localAddress: socket.localAddress ?? '' };
      })(),
      o.timeoutMs ?? 5000,
      `plainRequest to ${hostPort(host, port)}`,
    );
  } finally {
    socket.destroy();
  }
}

export interface OpensslClientOptions {
  host?: string;
  /** -servername (and -verify_hostname); undefined gives -noservername. */
  servername?: string;
  alpn?: string[];
  caFile: string;
  line: string;
  timeoutMs?: number;
}

/**
 * `openssl s_client -quiet` with the chain checked against caFile (-verify_return_error), the
 * line on stdin; resolves with the first line it prints, then kills it by PID (s_client lingers
 * after stdin ends, as -quiet implies -ign_eof).
 */
export async function opensslClient(port: number, o: OpensslClientOptions): Promise<{ line: string; stderr: string }> {
  ensureTools(['openssl=openssl']);
  const host = o.host ?? '127.0.0.1';
  const args = ['s_client', '-connect', hostPort(host, port), '-CAfile', o.caFile, '-verify_return_error', '-quiet'];
  if (o.servername !== undefined) args.push('-servername', o.servername, '-verify_hostname', o.servername);
  else args.push('-noservername');
  if (o.alpn) args.push('-alpn', o.alpn.join(','));
  const child = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'], env: peerEnv() });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.stdin.on('error', () => {});
  child.stdin.end(`${o.line}\n`);
  try {
    const line = await withTimeout(
      new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          const nl = stdout.indexOf('\n');
          if (nl >= 0) resolve(stdout.slice(0, nl));
        });
        void exited.then((code) => reject(new Error(`openssl s_client exited (${code}) before a reply: ${stderr}`)));
      }),
      o.timeoutMs ?? 5000,
      `openssl ${args.join(' ')}: no reply; stderr: ${stderr}`,
    );
    return { line, stderr };
  } finally {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await exited;
  }
}
