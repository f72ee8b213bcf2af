/**
 * A continuous client load for tests that change a running proxy: HTTP keep-alive loops, HTTP
 * loops that open a new connection per request, and TCP echo loops. Every request is checked
 * (status, body, echoed bytes) and every failure is kept with its reason.
 */
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import * as net from 'node:net';

export interface LoadCounts {
  ok: number;
  failed: number;
  failures: string[];
}

export interface LoadReport {
  httpKeepAlive: LoadCounts;
  httpNewConnection: LoadCounts;
  tcp: LoadCounts;
}

export interface Load {
  /** Stops the loops after their current request and reports. */
  stop(): Promise<LoadReport>;
  /** Requests answered so far, all kinds together. */
  done(): number;
}

const counts = (): LoadCounts => ({ ok: 0, failed: 0, failures: [] });

/** Loops of each kind (defaults: 4 keep-alive, 2 new-connection, 2 TCP); tcpPort is needed only with TCP loops. */
export function startLoad(options: { httpPort: number; tcpPort?: number; keepAlive?: number; fresh?: number; tcp?: number }): Load {
  const tcpLoops = options.tcp ?? 2;
  const tcpPort = options.tcpPort;
  if (tcpLoops > 0 && tcpPort === undefined) throw new Error('startLoad: TCP loops need tcpPort');
  const report: LoadReport = { httpKeepAlive: counts(), httpNewConnection: counts(), tcp: counts() };
  let running = true;
  const loops: Array<Promise<void>> = [];
  const agents: http.Agent[] = [];
  for (let i = 0; i < (options.keepAlive ?? 4); i++) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    loops.push(loop(() => running, report.httpKeepAlive, () => httpGet(options.httpPort, agent, `/ka/${i}`)));
  }
  for (let i = 0; i < (options.fresh ?? 2); i++) {
    loops.push(loop(() => running, report.httpNewConnection, () => httpGet(options.httpPort, false, `/new/${i}`)));
  }
  for (let i = 0; i < tcpLoops; i++) {
    loops.push(loop(() => running, report.tcp, () => tcpEcho(tcpPort!)));
  }
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      for (const a of agents) a.destroy();
      return report;
    },
    done: () => report.httpKeepAlive.ok + report.httpNewConnection.ok + report.tcp.ok,
  };
}

async function loop(running: () => boolean, into: LoadCounts, once: () => Promise<void>): Promise<void> {
  while (running()) {
    try {
      await once();
      into.ok++;
    } catch (err) {
      into.failed++;
      if (into.failures.length < 20) into.failures.push(err instanceof Error ? err.message : String(err));
    }
  }
}

function httpGet(port: number, agent: http.Agent | false, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`${path}: status ${res.statusCode}: ${body.trim()}`));
        else if (!body.endsWith(`GET ${path}\n`)) reject(new Error(`${path}: wrong body ${JSON.stringify(body)}`));
        else resolve();
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${path}: timed out`)));
    req.on('error', (err) => reject(new Error(`${path}: ${err.message}`)));
  });
}

/** Connect, send 4 KiB, read them back, close. */
function tcpEcho(port: number): Promise<void> {
  const payload = randomBytes(4096);
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let got = 0;
    const timer = setTimeout(() => socket.destroy(new Error('tcp: timed out')), 5000);
    socket.on('connect', () => socket.write(payload));
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got < payload.length) return;
      clearTimeout(timer);
      socket.destroy();
      if (Buffer.concat(chunks).equals(payload)) resolve();
      else reject(new Error(`tcp: echoed bytes differ (${got} bytes)`));
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`tcp: ${err.message}`));
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (got < payload.length) reject(new Error(`tcp: closed after ${got} of ${payload.length} bytes`));
    });
  });
}
