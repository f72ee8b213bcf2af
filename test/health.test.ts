/** Active health checks against real sockets on 127.0.0.1: transitions, HTTP semantics, lifecycle. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type * as net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import ts from 'typescript';
import { afterEach, describe, expect, it } from 'vitest';

import type { ResolvedHealthCheck } from '../src/config/types.js';
import { ActiveHealthChecker, type CheckStatus, type HealthChange } from '../src/health/active.js';
import { freePort, logger as silent, startBackend, type Backend } from './helpers.js';

// A timeout longer than the interval (the config would refuse it) so that a loaded machine's
// scheduling stall never turns a good check into a timeout; the timeout test sets its own.
const TCP: ResolvedHealthCheck = { type: 'tcp', path: '/', host: '', expectStatus: [], intervalMs: 50, timeoutMs: 1000, rise: 2, fall: 3 };
const HTTP: ResolvedHealthCheck = { ...TCP, type: 'http' };

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function backend(handler: (socket: net.Socket) => void): Promise<Backend> {
  const started = await startBackend(handler);
  cleanups.push(() => started.close());
  return started;
}

/** An HTTP server that hands each request head (as received) to `answer`. */
async function httpBackend(answer: (request: string, socket: net.Socket) => void): Promise<Backend & { requests: string[] }> {
  const requests: string[] = [];
  const started = await backend((socket) => {
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const request = head.slice(0, end + 4);
      head = head.slice(end + 4);
      requests.push(request);
      answer(request, socket);
    });
  });
  return Object.assign(started, { requests });
}

const respond = (status: number) => (_request: string, socket: net.Socket) =>
  socket.end(`HTTP/1.1 ${status} Whatever\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`);

interface Recorded {
  change: HealthChange;
  /** The server's status as the change fired. */
  status: CheckStatus | undefined;
}

/** A checker whose changes are recorded; `until` resolves on the first (past or future) match. */
function startChecker(check: ResolvedHealthCheck, servers: string[], logger: Logger = silent) {
  const recorded: Recorded[] = [];
  const waiters: Array<{ match: (c: HealthChange) => boolean; resolve: (r: Recorded) => void }> = [];
  const checker: ActiveHealthChecker = new ActiveHealthChecker({
    pool: 'web',
    check,
    logger,
    onChange: (change) => {
      const entry = { change, status: checker.status(change.address) };
      recorded.push(entry);
      for (const w of waiters.filter((w) => w.match(change))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(entry);
      }
    },
  });
  cleanups.push(() => checker.stop());
  checker.setServers(servers);
  const until = (match: (c: HealthChange) => boolean): Promise<Recorded> => {
    const past = recorded.find((r) => match(r.change));
    return past ? Promise.resolve(past) : new Promise((resolve) => waiters.push({ match, resolve }));
  };
  return { checker, recorded, until };
}

/** Polls a condition (never a guess at how long something takes); fails after `ms`. */
async function waitFor(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Only for proving that something does NOT happen; a pass never depends on its length. */
const quietPeriod = (ms: number) => new Promise((r) => setTimeout(r, ms));

function captureLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

describe('tcp checks', () => {
  it('goes down after exactly `fall` refused connects and up after exactly `rise` accepted ones, logging both', async () => {
    const b = await backend(() => {});
    const { logger, lines } = captureLogger();
    const { checker, recorded, until } = startChecker(TCP, [b.address], logger);
    await waitFor(() => checker.status(b.address)?.lastCheck?.ok === true, 'a good check');
    expect(checker.status(b.address)?.up).toBe(true);

    await b.close();
    const down = await until((c) => !c.up);
    expect(down.change).toMatchObject({ pool: 'web', address: b.address, up: false, reason: 'connect: ECONNREFUSED' });
    expect(down.status?.consecutiveFailed).toBe(TCP.fall);

    b.server.listen(b.port, '127.0.0.1');
    await once(b.server, 'listening');
    const up = await until((c) => c.up);
    expect(up.change).toMatchObject({ address: b.address, up: true, reason: 'rise 2/2' });
    expect(up.status?.consecutiveOk).toBe(TCP.rise);

    // Further good checks are no transitions.
    await waitFor(() => (checker.status(b.address)?.consecutiveOk ?? 0) >= TCP.rise + 3, 'more good checks');
    expect(recorded.map((r) => r.change.up)).toEqual([false, true]);
    expect(lines.filter((l) => l['msg'] === 'server down' || l['msg'] === 'server up')).toMatchObject([
      { level: 40, msg: 'server down', pool: 'web', server: b.address, reason: 'connect: ECONNREFUSED', check: 'tcp' },
      { level: 30, msg: 'server up', pool: 'web', server: b.address, reason: 'rise 2/2', check: 'tcp' },
    ]);
  });

  it('starts a new server\'s first check within min(intervalMs, 200) ms, spread at random', async () => {
    const firstSeen: number[] = [];
    const backends = await Promise.all(Array.from({ length: 10 }, () => backend(() => firstSeen.push(Date.now()))));
    startChecker({ ...TCP, intervalMs: 60_000, timeoutMs: 1000 }, backends.map((b) => b.address));
    // With a 60 s interval, only a first check can arrive within these 3 s.
    await waitFor(() => firstSeen.length === 10, 'ten first checks', 3000);
    expect(Math.max(...firstSeen) - Math.min(...firstSeen)).toBeGreaterThanOrEqual(20);
  });
});

describe('http checks', () => {
  it('goes down on 500 with the status in the reason, and up again on 200', async () => {
    let status = 500;
    const b = await httpBackend((request, socket) => respond(status)(request, socket));
    const { checker, until } = startChecker({ ...HTTP, fall: 2 }, [b.address]);
    const down = await until((c) => !c.up);
    expect(down.change.reason).toBe('status 500 (expected 200–399)');
    expect(down.status?.consecutiveFailed).toBe(2);

    status = 200;
    const up = await until((c) => c.up);
    expect(up.change.reason).toBe('rise 2/2');
    expect(checker.status(b.address)?.lastCheck).toMatchObject({ ok: true, reason: 'status 200' });
  });

  it('with expectStatus [204] a 200 is a failure and a 204 a success', async () => {
    let status = 200;
    const b = await httpBackend((request, socket) => respond(status)(request, socket));
    const { until } = startChecker({ ...HTTP, expectStatus: [204], rise: 1, fall: 1 }, [b.address]);
    expect((await until((c) => !c.up)).change.reason).toBe('status 200 (expected 204)');
    status = 204;
    expect((await until((c) => c.up)).status?.lastCheck?.reason).toBe('status 204');
  });

  it('sends GET path with the configured Host, Connection: close and its User-Agent', async () => {
    const b = await httpBackend(respond(200));
    const { checker } = startChecker({ ...HTTP, path: '/healthz?full=1', host: 'health.example' }, [b.address]);
    await waitFor(() => b.requests.length >= 1, 'a request');
    checker.stop();
    expect(b.requests[0]).toBe(
      'GET /healthz?full=1 HTTP/1.1\r\nHost: health.example\r\nConnection: close\r\nUser-Agent: epoxy-health\r\n\r\n',
    );
  });

  it('defaults Host to the server address and opens a fresh connection per check, even to a keep-alive server', async () => {
    const sockets = new Set<net.Socket>();
    const b = await httpBackend((_request, socket) => {
      sockets.add(socket);
      // Keep-alive on purpose: the checker must not reuse it.
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const { checker } = startChecker(HTTP, [b.address]);
    await waitFor(() => b.requests.length >= 3, 'three requests');
    checker.stop();
    expect(b.requests[0]).toContain(`\r\nHost: ${b.address}\r\n`);
    expect(sockets.size).toBe(b.requests.length);
    // stop() closed the last one; the earlier ones were closed by the checker as well.
    await waitFor(() => b.connections.size === 0, 'every check connection closed');
  });

  it('fails a check whose server accepts but never answers, without hanging', async () => {
    // Reading (and dropping) the request, so that the checker's FIN is seen.
    const b = await backend((socket) => socket.resume());
    const { checker, until } = startChecker({ ...HTTP, timeoutMs: 40, fall: 1 }, [b.address]);
    const down = await until((c) => !c.up);
    // '(response)' normally, '(connect)' if a stall delayed the connect event past the deadline.
    expect(down.change.reason).toMatch(/^timeout after 40 ms \((response|connect)\)$/);
    expect(down.status?.lastCheck?.durationMs).toBeGreaterThanOrEqual(35);
    // The timed-out connections are closed by the checker, and checking goes on.
    await waitFor(() => (checker.status(b.address)?.consecutiveFailed ?? 0) >= 3, 'three failed checks');
    await waitFor(() => b.connections.size <= 1, 'timed-out sockets closed');
  });

  it.each([
    ['a non-HTTP banner', 'SSH-2.0-OpenSSH_9.6\r\n', /^bad response: "SSH-2\.0-OpenSSH_9\.6"$/],
    ['a malformed status line', 'HTTP/1.1 2000 OK\r\n\r\n', /^bad response: status line "HTTP\/1\.1 2000 OK"$/],
    ['a head cut short', 'HTTP/1.1 200 OK\r\nContent-Le', /^bad response: connection closed in the head$/],
    ['nothing at all', '', /^connection closed before a response$/],
  ])('fails on %s with a clear reason', async (_name, answer, reason) => {
    const b = await backend((socket) => socket.end(answer));
    const { until } = startChecker({ ...HTTP, fall: 1 }, [b.address]);
    expect((await until((c) => !c.up)).change.reason).toMatch(reason);
  });
});

describe('interim responses', () => {
  it('judges the final status after 1xx interim heads (100 Continue, 103 Early Hints)', async () => {
    const interim = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload\r\n\r\n';
    let final = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n';
    const b = await backend((socket) => socket.end(interim + final));
    const { checker, until } = startChecker({ ...HTTP, fall: 1, rise: 1 }, [b.address]);
    await waitFor(() => (checker.status(b.address)?.consecutiveOk ?? 0) >= 2, 'two good checks');
    expect(checker.status(b.address)?.lastCheck?.reason).toBe('status 200');
    final = 'HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n';
    expect((await until((c) => !c.up)).change.reason).toBe('status 500 (expected 200–399)');
  });
});

describe('lifecycle', () => {
  it('setServers starts added servers, cancels a removed one\'s check in flight, and reports nothing for it', async () => {
    const good = await httpBackend(respond(200));
    let heldSocket: net.Socket | undefined;
    const slow = await backend((socket) => {
      heldSocket = socket.resume();
    });
    // A long timeout: only a cancelled check closes the held socket this early.
    const check = { ...HTTP, timeoutMs: 20_000, rise: 1, fall: 1 };
    const { checker, recorded } = startChecker(check, [good.address]);
    await waitFor(() => good.requests.length >= 1, 'the first server checked');
    expect(checker.status(slow.address)).toBeUndefined();

    checker.setServers([good.address, slow.address]);
    await waitFor(() => heldSocket !== undefined, 'the added server checked');
    expect(checker.status(slow.address)).toMatchObject({ up: true });
    const closed = once(heldSocket!, 'close');
    checker.setServers([good.address]);
    await closed;
    expect(checker.status(slow.address)).toBeUndefined();

    const before = good.requests.length;
    await waitFor(() => good.requests.length >= before + 3, 'the kept server still checked');
    await quietPeriod(100);
    expect(recorded.filter((r) => r.change.address === slow.address)).toEqual([]);
    expect(slow.connections.size).toBe(0);
    expect(() => checker.setServers(['127.0.0.1'])).toThrow(/missing ":port"/);
  });

  it('stop() closes the check in flight; no connection and no callback follow', async () => {
    let accepted = 0;
    let checker: ActiveHealthChecker | undefined;
    const b = await backend((socket) => {
      // Stopping on the second accept: that check is in flight, and no other can be.
      socket.resume();
      if (++accepted === 1) socket.end('HTTP/1.1 200 OK\r\n\r\n');
      else checker!.stop();
    });
    const started = startChecker({ ...HTTP, timeoutMs: 20_000, intervalMs: 10, fall: 1 }, [b.address]);
    checker = started.checker;
    await waitFor(() => accepted >= 2, 'two checks');
    await waitFor(() => b.connections.size === 0, 'the check in flight closed');
    await quietPeriod(300);
    expect(accepted).toBe(2);
    expect(started.recorded).toEqual([]);
    checker.stop(); // idempotent
  });

  it('stop() from inside onChange ends checking at once', async () => {
    const b = await httpBackend(respond(500));
    const check = { ...HTTP, intervalMs: 10, fall: 1 };
    const checker: ActiveHealthChecker = new ActiveHealthChecker({ pool: 'web', check, logger: silent, onChange: () => checker.stop() });
    cleanups.push(() => checker.stop());
    checker.setServers([b.address]);
    await waitFor(() => checker.status(b.address) === undefined, 'the stop from onChange');
    await quietPeriod(200);
    expect(b.requests).toHaveLength(1);
  });

  it('setCheck lets the check in flight finish under the old parameters; the next uses the new ones', async () => {
    let held: net.Socket | undefined;
    const b = await httpBackend((request, socket) => {
      if (held === undefined) held = socket;
      else respond(204)(request, socket);
    });
    const { checker, recorded } = startChecker({ ...HTTP, path: '/old', timeoutMs: 20_000, rise: 1, fall: 1 }, [b.address]);
    await waitFor(() => held !== undefined, 'the first check in flight');
    checker.setCheck({ ...HTTP, path: '/new', expectStatus: [204], timeoutMs: 1000, rise: 1, fall: 1 });
    // Old parameters: a 200 is good (200–399), although the new ones only accept 204.
    respond(200)('', held!);
    await waitFor(() => checker.status(b.address)?.lastCheck !== undefined, 'the first result');
    expect(checker.status(b.address)?.lastCheck).toMatchObject({ ok: true, reason: 'status 200' });
    await waitFor(() => b.requests.length >= 2, 'the second check');
    expect(b.requests[0]).toMatch(/^GET \/old /);
    expect(b.requests[1]).toMatch(/^GET \/new /);
    await waitFor(() => (checker.status(b.address)?.consecutiveOk ?? 0) >= 2, 'a good check under the new parameters');
    expect(recorded).toEqual([]);
  });

  it('keeps a server\'s down state across setCheck', async () => {
    const b = await httpBackend(respond(503));
    const { checker, until } = startChecker({ ...HTTP, rise: 2, fall: 1 }, [b.address]);
    await until((c) => !c.up);
    checker.setCheck({ ...HTTP, expectStatus: [503], rise: 3, fall: 1 });
    expect(checker.status(b.address)?.up).toBe(false);
    const up = await until((c) => c.up);
    expect(up.change.reason).toBe('rise 3/3');
  });

  it('a throwing onChange is logged and checking goes on', async () => {
    const b = await backend(() => {});
    const { logger, lines } = captureLogger();
    const changes: boolean[] = [];
    const checker = new ActiveHealthChecker({
      pool: 'web',
      check: { ...TCP, rise: 1, fall: 1 },
      logger,
      onChange: (change) => {
        changes.push(change.up);
        throw new Error('subscriber bug');
      },
    });
    cleanups.push(() => checker.stop());
    checker.setServers([b.address]);
    await b.close();
    await waitFor(() => changes.length === 1, 'down');
    b.server.listen(b.port, '127.0.0.1');
    await waitFor(() => changes.length === 2, 'up again');
    expect(changes).toEqual([false, true]);
    expect(lines.filter((l) => l['msg'] === 'health onChange threw')).toHaveLength(2);
  });

  it('never keeps the process alive, even with a check in flight', async () => {
    const dir = compileForChild();
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    let child: ReturnType<typeof spawn> | undefined;
    const held = await backend(() => {
      if (child?.stdin?.writableEnded === false) child.stdin.end('go\n');
    });
    const refused = `127.0.0.1:${await freePort()}`;
    child = spawn(process.execPath, [join(dir, 'child.mjs'), held.address, refused], { stdio: ['pipe', 'inherit', 'inherit'] });
    cleanups.push(() => child?.kill('SIGKILL'));
    const exit = once(child, 'exit') as Promise<[number | null, string | null]>;
    // The child holds itself up only until a check is in flight; then it must end on its own,
    // long before that check's 30 s timeout.
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the child stayed alive')), 10_000).unref());
    expect(await Promise.race([exit, timeout])).toEqual([0, null]);
  });
});

/** The checker as plain JS in a temp dir (there is no TS loader for a child process here). */
function compileForChild(): string {
  const dir = mkdtempSync(join(tmpdir(), 'epoxy-health-'));
  const root = fileURLToPath(new URL('..', import.meta.url));
  for (const file of ['health/active', 'config/address']) {
    const source = readFileSync(join(root, 'src', `${file}.ts`), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    });
    mkdirSync(dirname(join(dir, `${file}.js`)), { recursive: true });
    writeFileSync(join(dir, `${file}.js`), outputText);
  }
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  writeFileSync(
    join(dir, 'child.mjs'),
    `import { ActiveHealthChecker } from './health/active.js';
const logger = { info() {}, warn() {}, error() {}, debug() {} };
const check = { type: 'http', path: '/', host: '', expectStatus: [], intervalMs: 20, timeoutMs: 30000, rise: 1, fall: 1 };
const checker = new ActiveHealthChecker({ pool: 'p', check, logger, onChange() {} });
checker.setServers(process.argv.slice(2));
// Alive until the parent has seen a check arrive; after that only the checker could hold the loop.
const keep = setInterval(() => {}, 1000);
process.stdin.once('data', () => { clearInterval(keep); process.stdin.destroy(); });
`,
  );
  return dir;
}
