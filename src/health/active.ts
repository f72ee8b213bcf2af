/**
 * Active health checks, run from the control plane (haproxy's model): every server of a pool is
 * probed on its own timer; a server starts up, goes down after `fall` failed checks in a row and
 * comes back after `rise` good ones. Only transitions are reported.
 */
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';

import { parseAddress } from '../config/address.js';
import type { ResolvedHealthCheck } from '../config/types.js';

export interface HealthChange {
  pool: string;
  /** 'ip:port' as given to setServers. */
  address: string;
  up: boolean;
  /** Why: the failing check's reason when going down, 'rise n/n' when coming up. */
  reason: string;
  /** Date.now() of the deciding check. */
  at: number;
}

export interface CheckStatus {
  up: boolean;
  lastCheck?: { at: number; ok: boolean; reason: string; durationMs: number };
  consecutiveOk: number;
  consecutiveFailed: number;
}

export interface ActiveHealthOptions {
  pool: string;
  check: ResolvedHealthCheck;
  logger: Logger;
  onChange: (change: HealthChange) => void;
}

type CheckResult = { ok: boolean; reason: string };

/** A check in flight; cancel() destroys its socket and guarantees its report never runs. */
type Probe = { cancel(): void };

/** Where a probe connects; `address` is the default Host. */
interface Target {
  address: string;
  host: string;
  port: number;
  /** Sent first on every probe connection: a PROXY protocol LOCAL header, when the server wants one. */
  preface?: Buffer;
}

/** A server to check: its address, and the PROXY protocol version it expects (if any). */
export interface CheckedServer {
  address: string;
  proxyProtocol?: 'v1' | 'v2' | null;
}

/**
 * What a health check sends first to a server that expects the PROXY protocol (haproxy's
 * check-send-proxy): a header that says "no client address", so the server accepts the
 * connection and keeps its own addresses — v2 LOCAL, or v1 `PROXY UNKNOWN`.
 */
const V2_LOCAL = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x20, 0x00, 0x00, 0x00]);
const V1_UNKNOWN = Buffer.from('PROXY UNKNOWN\r\n', 'latin1');

function prefaceFor(version: CheckedServer['proxyProtocol']): Buffer | undefined {
  if (version === 'v2') return V2_LOCAL;
  if (version === 'v1') return V1_UNKNOWN;
  return undefined;
}

/** One checked server: its verdict, its counters and at most one probe. */
interface ServerHealth extends Target {
  status: CheckStatus;
  timer?: NodeJS.Timeout;
  /** Kept after the result until the next check: an HTTP probe may still be draining the body. */
  probe?: Probe;
  /** performance.now() at the start of the last check; undefined before the first. */
  startedAt?: number;
  inFlight: boolean;
}

// Matches the engine's largest accepted request head; a health endpoint has no reason to exceed it.
const MAX_HEAD_BYTES = 16384;
const FIRST_CHECK_SPREAD_MS = 200;

export class ActiveHealthChecker {
  readonly #pool: string;
  readonly #logger: Logger;
  readonly #onChange: (change: HealthChange) => void;
  #check: ResolvedHealthCheck;
  #servers = new Map<string, ServerHealth>();
  #stopped = false;

  constructor(options: ActiveHealthOptions) {
    assertCheck(options.check);
    this.#pool = options.pool;
    this.#check = options.check;
    this.#logger = options.logger;
    this.#onChange = options.onChange;
  }

  /**
   * The servers to check ('ip:port' or '[v6]:port'); starts new ones, stops removed ones, keeps
   * state of the others. Throws a TypeError (changing nothing) on a malformed address; a no-op after stop().
   */
  setServers(servers: ReadonlyArray<string | CheckedServer>): void {
    if (this.#stopped) return;
    // Parse everything first so that a bad address changes nothing.
    const wanted = new Map(
      servers.map((s) => {
        const { address, proxyProtocol } = typeof s === 'string' ? { address: s, proxyProtocol: null } : s;
        const preface = prefaceFor(proxyProtocol);
        return [address, { ...targetOf(address), ...(preface ? { preface } : {}) }] as const;
      }),
    );
    for (const [address, server] of this.#servers) {
      if (!wanted.has(address)) this.#remove(server);
    }
    for (const [address, target] of wanted) {
      const kept = this.#servers.get(address);
      if (!kept) this.#add(address, target);
      else if (target.preface) kept.preface = target.preface;
      else delete kept.preface;
    }
  }

  /** New check parameters (a reload); kept servers keep their up/down state. */
  setCheck(check: ResolvedHealthCheck): void {
    assertCheck(check);
    this.#check = check;
    if (this.#stopped) return;
    // A long old interval must not delay the new one: re-plan every waiting (not first) check.
    for (const server of this.#servers.values()) {
      if (!server.inFlight && server.startedAt !== undefined) this.#scheduleNext(server);
    }
  }

  status(address: string): CheckStatus | undefined {
    const server = this.#servers.get(address);
    if (!server) return undefined;
    const { status } = server;
    return { ...status, lastCheck: status.lastCheck && { ...status.lastCheck } };
  }

  /** Stops every timer and socket; no callback fires afterwards. Idempotent. */
  stop(): void {
    this.#stopped = true;
    for (const server of this.#servers.values()) this.#remove(server);
  }

  #add(address: string, target: Omit<Target, 'address'>): void {
    const server: ServerHealth = {
      ...target,
      address,
      status: { up: true, consecutiveOk: 0, consecutiveFailed: 0 },
      inFlight: false,
    };
    this.#servers.set(address, server);
    // Spread the first checks so that a big pool is not probed in one burst.
    const spread = Math.min(this.#check.intervalMs, FIRST_CHECK_SPREAD_MS);
    this.#arm(server, Math.random() * spread);
  }

  #remove(server: ServerHealth): void {
    clearTimeout(server.timer);
    server.probe?.cancel();
    this.#servers.delete(server.address);
  }

  #arm(server: ServerHealth, delayMs: number): void {
    clearTimeout(server.timer);
    server.timer = setTimeout(() => this.#start(server), delayMs).unref();
  }

  /** Intervals run start to start; a check that overran its interval is followed at once. */
  #scheduleNext(server: ServerHealth): void {
    const since = performance.now() - (server.startedAt ?? 0);
    this.#arm(server, Math.max(0, this.#check.intervalMs - since));
  }

  #start(server: ServerHealth): void {
    server.timer = undefined;
    server.probe?.cancel();
    server.inFlight = true;
    server.startedAt = performance.now();
    const startedAt = server.startedAt;
    // Kept for this check: a reload while it runs applies from the next one.
    const check = this.#check;
    const report = (result: CheckResult): void => {
      if (!this.#isCurrent(server)) return;
      server.inFlight = false;
      this.#record(server, check, result, performance.now() - startedAt);
      // onChange may have stopped the checker or removed this server.
      if (this.#isCurrent(server)) this.#scheduleNext(server);
    };
    server.probe = check.type === 'tcp' ? probeTcp(server, check, report) : probeHttp(server, check, report);
  }

  /** False once the server was removed (perhaps re-added as a new entry) or the checker stopped. */
  #isCurrent(server: ServerHealth): boolean {
    return !this.#stopped && this.#servers.get(server.address) === server;
  }

  #record(server: ServerHealth, check: ResolvedHealthCheck, result: CheckResult, durationMs: number): void {
    const at = Date.now();
    const { status } = server;
    status.lastCheck = { at, ok: result.ok, reason: result.reason, durationMs: Math.round(durationMs) };
    if (result.ok) {
      status.consecutiveOk++;
      status.consecutiveFailed = 0;
      if (!status.up && status.consecutiveOk >= this.#check.rise) {
        this.#transition(server, check.type, true, `rise ${status.consecutiveOk}/${this.#check.rise}`, at);
      }
    } else {
      status.consecutiveFailed++;
      status.consecutiveOk = 0;
      if (status.up && status.consecutiveFailed >= this.#check.fall) {
        this.#transition(server, check.type, false, result.reason, at);
      }
    }
  }

  #transition(server: ServerHealth, type: ResolvedHealthCheck['type'], up: boolean, reason: string, at: number): void {
    server.status.up = up;
    const fields = { pool: this.#pool, server: server.address, reason, check: type };
    if (up) this.#logger.info(fields, 'server up');
    else this.#logger.warn({ ...fields, fall: this.#check.fall }, 'server down');
    try {
      this.#onChange({ pool: this.#pool, address: server.address, up, reason, at });
    } catch (err) {
      // The caller's bug must not kill the timer loop that keeps the other servers checked.
      this.#logger.error({ pool: this.#pool, server: server.address, err }, 'health onChange threw');
    }
  }
}

function targetOf(address: string): { host: string; port: number } {
  const parsed = parseAddress(address);
  if ('error' in parsed) throw new TypeError(parsed.error);
  return parsed;
}

// The config validator is the real gate; this keeps a bad path or host from splitting the request.
function assertCheck({ path, host }: ResolvedHealthCheck): void {
  if (!/^\/[\x21-\x7e]*$/.test(path)) throw new TypeError(`health check path "${path}" must start with "/" and hold no spaces or control characters`);
  if (!/^[\x21-\x7e]*$/.test(host)) throw new TypeError(`health check host "${host}" must hold no spaces or control characters`);
}

/**
 * One probe's socket and deadline, which end together. settle() reports at most once; close()
 * ends both without reporting (after settling, or to cancel); fail() is close() then settle().
 */
function openProbe(target: Target, timeoutMs: number, onDeadline: () => void, report: (result: CheckResult) => void) {
  let settled = false;
  const socket = net.connect({ host: target.host, port: target.port });
  socket.unref();
  const timer = setTimeout(onDeadline, timeoutMs).unref();
  const close = (): void => {
    clearTimeout(timer);
    socket.destroy();
  };
  const settle = (ok: boolean, reason: string): void => {
    if (settled) return;
    settled = true;
    report({ ok, reason });
  };
  const fail = (reason: string): void => {
    close();
    settle(false, reason);
  };
  const cancel = (): void => {
    settled = true;
    close();
  };
  return { socket, settle, fail, close, cancel };
}

/** Success: the connect completes within the timeout; the connection is closed at once. */
function probeTcp(target: Target, check: ResolvedHealthCheck, report: (result: CheckResult) => void): Probe {
  const p = openProbe(target, check.timeoutMs, () => p.fail(`timeout after ${check.timeoutMs} ms`), report);
  p.socket.once('connect', () => {
    const done = (): void => {
      p.close();
      p.settle(true, 'connected');
    };
    // A server that expects a PROXY header would log a broken one for a bare close.
    if (target.preface) p.socket.write(target.preface, done);
    else done();
  });
  p.socket.on('error', (err) => p.fail(`connect: ${errorCode(err)}`));
  return { cancel: p.cancel };
}

/**
 * A fresh connection per check (it exercises the server's accept path), `GET path`, judged on
 * the status line once the whole head is in. The body is read and dropped until the server
 * closes or the check's deadline passes.
 */
function probeHttp(target: Target, check: ResolvedHealthCheck, report: (result: CheckResult) => void): Probe {
  let connected = false;
  let head = Buffer.alloc(0);
  let headDone = false;
  const onDeadline = (): void => {
    if (headDone) p.close();
    else p.fail(`timeout after ${check.timeoutMs} ms (${connected ? 'response' : 'connect'})`);
  };
  const p = openProbe(target, check.timeoutMs, onDeadline, report);
  p.socket.once('connect', () => {
    connected = true;
    const request = Buffer.from(requestFor(target.address, check), 'latin1');
    p.socket.write(target.preface ? Buffer.concat([target.preface, request]) : request);
  });
  p.socket.on('data', (chunk: Buffer) => {
    if (headDone) return;
    head = Buffer.concat([head, chunk]);
    const verdict = judgeHead(head, check.expectStatus);
    if (verdict === undefined) return;
    headDone = true;
    if (verdict.garbled) p.fail(verdict.reason);
    else p.settle(verdict.ok, verdict.reason);
  });
  p.socket.on('end', () => {
    if (!headDone) p.fail(head.length === 0 ? 'connection closed before a response' : 'bad response: connection closed in the head');
    p.close();
  });
  p.socket.on('error', (err) => p.fail(connected ? `${errorCode(err)} before a response` : `connect: ${errorCode(err)}`));
  p.socket.on('close', () => p.fail('connection closed before a response'));
  return { cancel: p.cancel };
}

function requestFor(address: string, check: ResolvedHealthCheck): string {
  const host = check.host === '' ? address : check.host;
  return `GET ${check.path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\nUser-Agent: epoxy-health\r\n\r\n`;
}

/** The verdict once it is known (garbage is recognised early), undefined while more is needed. */
function judgeHead(head: Buffer, expectStatus: readonly number[]): (CheckResult & { garbled?: true }) | undefined {
  const prefix = head.subarray(0, 5).toString('latin1');
  if (!'HTTP/'.startsWith(prefix)) return { ok: false, garbled: true, reason: `bad response: ${quote(head)}` };
  const end = head.indexOf('\r\n\r\n');
  if (end < 0) {
    return head.length > MAX_HEAD_BYTES ? { ok: false, garbled: true, reason: `bad response: head over ${MAX_HEAD_BYTES} bytes` } : undefined;
  }
  const statusLine = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
  const match = /^HTTP\/1\.[01] ([1-9][0-9]{2})(?: [^\x00-\x08\x0a-\x1f\x7f]*)?$/.exec(statusLine);
  if (!match?.[1]) return { ok: false, garbled: true, reason: `bad response: status line ${quote(head)}` };
  const status = Number(match[1]);
  // 1xx heads (100 Continue, 103 Early Hints) are interim: the final response follows them.
  if (status < 200) return judgeHead(head.subarray(end + 4), expectStatus);
  const ok = expectStatus.length === 0 ? status >= 200 && status <= 399 : expectStatus.includes(status);
  const expected = expectStatus.length === 0 ? '200–399' : expectStatus.join(', ');
  return ok ? { ok, reason: `status ${status}` } : { ok, reason: `status ${status} (expected ${expected})` };
}

function quote(bytes: Buffer): string {
  const line = bytes.subarray(0, 40).toString('latin1').split('\r\n')[0] ?? '';
  return JSON.stringify(line) + (bytes.length > 40 && line.length === 40 ? '…' : '');
}

function errorCode(err: Error): string {
  return (err as NodeJS.ErrnoException).code ?? err.message;
}
