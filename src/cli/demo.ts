/**
 * `npm start`: a self-contained tour. Two HTTP backends behind an HTTP listener on
 * 127.0.0.1:8080 (routed by Host, with a round-robin default), two echo backends behind a TCP
 * listener on 127.0.0.1:8081, and the admin dashboard on 127.0.0.1:9900. A port that is taken
 * is replaced by a free one; EPOXY_DEMO_PORT=0 takes free ports for all three (the tests do).
 * The screen shows the real ports.
 */
import type { EpoxyConfig } from '../config/types.js';
import { createLogger, type Logger } from '../log/logger.js';
import { Proxy } from '../proxy.js';
import { HOST, pickPorts, startEchoBackend, startHttpBackend, type Backend } from './demo-backends.js';
import { printFailure } from './report.js';
import { shutdownOnSignal } from './signals.js';

const WISHED_PORTS = { http: 8080, tcp: 8081, admin: 9900 };

function demoConfig(ports: number[], web: Backend[], echo: Backend[]): EpoxyConfig {
  const [httpPort, tcpPort, adminPort] = ports;
  const [, b] = web;
  return {
    listeners: [
      { name: 'http', bind: `${HOST}:${httpPort}`, mode: 'http', routes: [{ host: 'b.localhost', pool: 'b' }, { pool: 'web' }] },
      { name: 'echo', bind: `${HOST}:${tcpPort}`, mode: 'tcp', pool: 'echo' },
    ],
    pools: {
      web: { balance: 'roundrobin', servers: web.map((s) => s.address) },
      b: { servers: [b!.address] },
      echo: { balance: 'roundrobin', servers: echo.map((s) => s.address) },
    },
    admin: { bind: `${HOST}:${adminPort}` },
    // A demo stops quickly even with an nc session open.
    shutdownGraceMs: 2000,
  };
}

/** Binds the wished ports or free ones; tries again if another process takes one meanwhile. */
async function startProxy(web: Backend[], echo: Backend[], logger: Logger): Promise<{ proxy: Proxy; config: EpoxyConfig }> {
  const free = process.env['EPOXY_DEMO_PORT'] === '0';
  const wishes = Object.values(WISHED_PORTS).map((p) => (free ? 0 : p));
  for (let attempt = 1; ; attempt++) {
    const config = demoConfig(await pickPorts(wishes), web, echo);
    try {
      return { proxy: await Proxy.start(config, { logger }), config };
    } catch (err) {
      const inUse = err instanceof Error && /address already in use|EADDRINUSE/i.test(err.message);
      if (!inUse || attempt === 3) throw err;
    }
  }
}

function screen(config: EpoxyConfig, dashboard: string): string {
  const [web, echo] = config.listeners.map((l) => l.bind);
  const url = `http://${web}/`;
  const tries: Array<[string, string]> = [
    [`curl ${url}`, 'served by backend A, then B, then A...'],
    [`curl -H 'Host: b.localhost' ${url}`, 'always B'],
    [`nc ${echo!.replace(':', ' ')}`, 'type a line: it comes back'],
    [`ab -n 1000 -c 10 ${url}`, 'then look at the dashboard'],
  ];
  const width = Math.max(...tries.map(([cmd]) => cmd.length)) + 2;
  return [
    '',
    'epoxy demo running:',
    `  HTTP ${web} -> backends A and B, round robin; Host b.localhost -> B`,
    `  TCP  ${echo} -> echo backends A and B, round robin`,
    `  dashboard on ${dashboard} (open it in a browser)`,
    'Try from another terminal:',
    ...tries.map(([cmd, what]) => `  ${cmd.padEnd(width)}# ${what}`),
    'Ctrl-C stops.',
    '',
  ].join('\n');
}

async function main(): Promise<number> {
  // Quiet by default so the screen stays readable; EPOXY_LOG_LEVEL=info shows the proxy's log.
  const logger = createLogger({ level: process.env['EPOXY_LOG_LEVEL'] ?? 'warn' });
  const web = [await startHttpBackend('A'), await startHttpBackend('B')];
  const echo = [await startEchoBackend('A'), await startEchoBackend('B')];
  const closeBackends = () => Promise.all([...web, ...echo].map((b) => b.close())).then(() => undefined);

  let proxy: Proxy;
  try {
    const started = await startProxy(web, echo, logger);
    proxy = started.proxy;
    process.stdout.write(screen(started.config, proxy.adminUrl ?? ''));
  } catch (err) {
    printFailure('demo config', err);
    await closeBackends();
    return 1;
  }

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
