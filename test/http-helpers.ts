/** HTTP test tools: a recording backend, raw-socket exchanges, and a tiny response splitter. */
import { once } from 'node:events';
import * as http from 'node:http';
import * as net from 'node:net';

export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

export interface HttpBackend {
  server: http.Server;
  address: string;
  seen: SeenRequest[];
  /** TCP connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

/**
 * A node:http backend that records every request and answers with `handler` (default: 200 with
 * a body naming the backend and echoing method and url).
 */
export async function httpBackend(
  name: string,
  handler?: (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void,
): Promise<HttpBackend> {
  const seen: SeenRequest[] = [];
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body });
      if (handler) return handler(req, res, body);
      res.setHeader('x-backend', name);
      res.end(`${name} ${req.method} ${req.url}\n`);
    });
  });
  server.on('connection', (s) => {
    accepted++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    server,
    address: `127.0.0.1:${port}`,
    seen,
    connections: () => accepted,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** One request with node's client on a given agent (keep-alive when the agent says so). */
export function request(
  port: number,
  options: { path?: string; method?: string; headers?: Record<string, string>; body?: Buffer | string; agent?: http.Agent } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: options.path ?? '/', method: options.method ?? 'GET', headers: options.headers, agent: options.agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : (v ?? '');
          resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks) });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Sends raw bytes, then reads until the server closes (or `ms` passes); returns everything read. */
export async function rawExchange(port: number, bytes: Buffer | string, ms = 3000): Promise<{ data: Buffer; error?: string }> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.write(bytes);
  return new Promise((resolve) => {
    let error: string | undefined;
    const timer = setTimeout(() => socket.destroy(), ms);
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), error });
    });
  });
}

/**
 * Splits a byte stream of HTTP/1.1 responses (Content-Length or chunked bodies only; `head`
 * marks responses to HEAD) into status, headers and body, in order.
 */
export function splitResponses(data: Buffer, heads: boolean[] = []): Reply[] {
  const out: Reply[] = [];
  let at = 0;
  while (at < data.length) {
    const end = data.indexOf('\r\n\r\n', at);
    if (end < 0) break;
    const lines = data.subarray(at, end).toString('latin1').split('\r\n');
    const status = Number(lines[0]!.split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    at = end + 4;
    let body = Buffer.alloc(0);
    const isHead = heads[out.length] ?? false;
    const noBody = isHead || status === 204 || status === 304 || (status >= 100 && status < 200);
    if (!noBody && headers['transfer-encoding']?.toLowerCase() === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const nl = data.indexOf('\r\n', at);
        const size = parseInt(data.subarray(at, nl).toString('latin1').split(';')[0]!, 16);
        at = nl + 2;
        if (size === 0) {
          at = data.indexOf('\r\n\r\n', at - 2) + 4;
          break;
        }
        parts.push(data.subarray(at, at + size));
        at += size + 2;
      }
      body = Buffer.concat(parts);
    } else if (!noBody && headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      body = data.subarray(at, at + n);
      at += n;
    }
    out.push({ status, headers, body });
  }
  return out;
}
