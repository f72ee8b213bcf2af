/**
 * Runs the user's `select` hook for batches of new connections parked by the engine and sends
 * the answers back as one Uint32Array of (token, target) pairs per flush. A hook that throws,
 * rejects, answers something unknown or takes longer than `selectMs` gets the balancer (target 0)
 * and a log line.
 */
import type { Logger } from 'pino';

import type { HttpRequestInfo, PoolView, SelectContext, SelectHook, SelectResult } from './config/types.js';
import { NO_REQUEST, SELECT_RECORD } from './native.js';

export interface SelectTargets {
  /** Maps a hook's answer (pool name or server address) to an engine target; undefined if unknown. */
  resolve(result: string): number | undefined;
  /** The running pool `name`, read-only; throws for an unknown pool. */
  pool(name: string): PoolView;
}

/** Request info for the hook; header fields are parsed from the raw head only when read. */
function requestInfo(strings: readonly string[], at: number): HttpRequestInfo {
  const rawHead = strings[at + 3] ?? '';
  let headers: Record<string, string> | undefined;
  return {
    method: strings[at] ?? '',
    path: strings[at + 1] ?? '',
    host: strings[at + 2] ?? '',
    get headers() {
      headers ??= parseHeaderFields(rawHead);
      return headers;
    },
  };
}

/** What a ClientHello said: the SNI ('' for none) and the ALPN protocols, each ended by NUL. */
function tlsInfo(strings: readonly string[], at: number): NonNullable<SelectContext['tls']> {
  const sni = strings[at] ?? '';
  const alpn = (strings[at + 1] ?? '').split('\0');
  alpn.pop();  // after the last NUL
  return sni === '' ? { alpn } : { sni, alpn };
}

/** Field lines of a head the engine already validated: `name: value` per CRLF-ended line. */
function parseHeaderFields(head: string): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  const lines = head.split('\r\n');
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    out[name] = name in out ? `${out[name]}, ${value}` : value;
  }
  return Object.freeze(out);
}

/** Lets a burst of identical warnings through at a bounded rate and counts the rest. */
class LogLimiter {
  #windowStart = 0;
  #count = 0;
  #suppressed = 0;

  constructor(private readonly perSecond: number) {}

  allow(): { ok: boolean; suppressed: number } {
    const now = Date.now();
    if (now - this.#windowStart >= 1000) {
      this.#windowStart = now;
      this.#count = 0;
    }
    if (++this.#count > this.perSecond) {
      this.#suppressed++;
      return { ok: false, suppressed: 0 };
    }
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    return { ok: true, suppressed };
  }
}

export class SelectDispatcher {
  #replies: number[] = [];
  #flushScheduled = false;
  #limiter = new LogLimiter(20);
  readonly #poolView = (name: string): PoolView => this.targets.pool(name);

  constructor(
    private readonly hook: SelectHook,
    private readonly timeoutMs: number,
    private readonly listeners: () => ReadonlyArray<{ name: string; mode: 'tcp' | 'http' }>,
    private readonly targets: SelectTargets,
    private readonly send: (pairs: Uint32Array) => void,
    private readonly logger: Logger,
  ) {}

  /** Handles one batch of select records from the engine. */
  dispatch(records: Uint32Array, addresses: readonly string[], requests: readonly string[] = []): void {
    const listeners = this.listeners();
    let pending: Array<{ token: number; ctx: SelectContext; settled: boolean }> = [];
    for (let i = 0; i + SELECT_RECORD <= records.length; i += SELECT_RECORD) {
      const token = records[i]!;
      const ctx: SelectContext = {
        listener: listeners[records[i + 1]!]?.name ?? '',
        clientAddress: addresses[records[i + 2]!] ?? '',
        clientPort: records[i + 3]!,
        pool: this.#poolView,
      };
      const req = records[i + 4]!;
      if (req !== NO_REQUEST) {
        if (listeners[records[i + 1]!]?.mode === 'tcp') ctx.tls = tlsInfo(requests, req);
        else ctx.request = requestInfo(requests, req);
      }
      const entry = { token, ctx, settled: false };
      if (this.#start(entry)) pending.push(entry);
    }
    if (pending.length > 0) {
      // One timer per batch: every call in it started at the same moment.
      const timer = setTimeout(() => {
        for (const e of pending) {
          if (e.settled) continue;
          e.settled = true;
          this.#warn(e.ctx, `select hook did not answer within ${this.timeoutMs} ms; using the balancer`);
          this.#reply(e.token, 0);
        }
        pending = [];
      }, this.timeoutMs);
      timer.unref();
    }
    this.#scheduleFlush();
  }

  /** Calls the hook; returns true when the answer is still pending. */
  #start(entry: { token: number; ctx: SelectContext; settled: boolean }): boolean {
    let result: SelectResult | Promise<SelectResult>;
    try {
      result = this.hook(entry.ctx);
    } catch (err) {
      this.#warn(entry.ctx, 'select hook threw; using the balancer', err);
      this.#reply(entry.token, 0);
      return false;
    }
    if (typeof result !== 'object' || result === null) {
      this.#reply(entry.token, this.#target(entry.ctx, result));
      return false;
    }
    Promise.resolve(result).then(
      (value) => {
        if (entry.settled) return;
        entry.settled = true;
        this.#reply(entry.token, this.#target(entry.ctx, value));
      },
      (err: unknown) => {
        if (entry.settled) return;
        entry.settled = true;
        this.#warn(entry.ctx, 'select hook rejected; using the balancer', err);
        this.#reply(entry.token, 0);
      },
    );
    return true;
  }

  #target(ctx: SelectContext, result: SelectResult): number {
    if (result === undefined || result === null) return 0;
    if (typeof result === 'string') {
      const target = this.targets.resolve(result);
      if (target !== undefined) return target;
    }
    this.#warn(ctx, `select hook returned ${JSON.stringify(result)}, which is neither a pool nor a server; using the balancer`);
    return 0;
  }

  #reply(token: number, target: number): void {
    this.#replies.push(token, target);
    this.#scheduleFlush();
  }

  // Answers that settle in the same tick leave in one crossing.
  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      if (this.#replies.length === 0) return;
      const pairs = Uint32Array.from(this.#replies);
      this.#replies = [];
      this.send(pairs);
    });
  }

  #warn(ctx: SelectContext, msg: string, err?: unknown): void {
    const { ok, suppressed } = this.#limiter.allow();
    if (!ok) return;
    const fields: Record<string, unknown> = { listener: ctx.listener, client: `${ctx.clientAddress}:${ctx.clientPort}` };
    if (err !== undefined) fields['err'] = err;
    if (suppressed > 0) fields['suppressed'] = suppressed;
    this.logger.warn(fields, msg);
  }
}
