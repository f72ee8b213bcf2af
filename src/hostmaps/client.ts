/**
 * The link to Redis: one command connection (SCAN, reads) and one subscriber connection
 * (the change channel and keyspace notifications), reduced to one ConnectionState.
 *
 * Client: ioredis 6.1.0. Both maintained clients (ioredis, node-redis 5/6) would do; ioredis won on:
 * - Node 20: ioredis 6 declares engines node >=20, like node-redis 6 (ioredis 5.x: >=12.22); it
 *   ships its own types, is the maintained line, and 6.0.0 is the listed fix of an advisory
 *   (uncontrolled recursion) raised against 5.x releases. It speaks RESP3 and falls back to
 *   RESP2 by itself on servers < 6, which older managed Redis still runs.
 * - Reconnection: automatic and unconditional through retryStrategy(attempt) → delay, which we
 *   supply (exponential backoff with jitter, below; node-redis' default has no jitter). The
 *   offline behaviour is explicit: enableOfflineQueue false plus maxRetriesPerRequest 0 make a
 *   read issued or in flight while the link is down fail at once, instead of being queued and
 *   replayed against data that the resync after the reconnect re-reads anyway. An 'error' event
 *   with no listener is not thrown (node-redis crashes the process on one).
 * - Pub/sub: a dedicated subscriber connection with 'message'/'pmessage' events, and automatic
 *   re-subscription that can be switched off. We switch it off and re-subscribe ourselves on
 *   every 'ready', so the full resync after a reconnect starts only once SUBSCRIBE/PSUBSCRIBE
 *   were acknowledged: a change published in between cannot be lost.
 * - SCAN and pipeline().exec() with a per-command [error, result] (WRONGTYPE on one key does not
 *   fail the batch), which the 100,000-key load needs.
 *
 * Nothing here logs the URL or an error object as is: client errors can carry the command's
 * arguments (AUTH's password); only scrubbed messages leave this file.
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';

import { errorText, parseRedisUrl, type RedisUrlInfo } from './redis-url.js';
import type { ConnectionState, RedisSettings } from './types.js';

/** ioredis' message for commands rejected because the connection went away. */
const CLOSED = 'Connection is closed.';

export interface LinkEvents {
  /** Both connections usable and subscribed: time for a full resync. */
  up(): void;
  state(next: ConnectionState, previous: ConnectionState, lastError: string | undefined): void;
  /** A message on the change channel. */
  message(text: string): void;
  /** A keyspace notification for this key (any event: re-read it). */
  keyspace(key: string): void;
}

export interface LinkOptions {
  /** How long start() waits for the first connection before it falls back. Default 5000. */
  connectTimeoutMs?: number;
  /** A read that gets no reply in this time fails (a hung or SIGSTOPped server). Default 15000. */
  commandTimeoutMs?: number;
}

/** Exponential backoff 100 ms → 5 s with up to 20 % jitter, so a fleet does not reconnect in step. */
export function reconnectDelay(attempt: number): number {
  const base = Math.min(100 * 2 ** Math.max(0, attempt - 1), 5000);
  return Math.round(base * (1 + Math.random() * 0.2));
}

export class RedisLink {
  readonly command: Redis;
  readonly url: RedisUrlInfo;
  private readonly subscriber: Redis;
  private connection: ConnectionState = 'connecting';
  private commandReady = false;
  private subscribed = false;
  private everUp = false;
  private closing = false;
  private lastError: string | undefined;
  private firstOutcome: ((up: boolean) => void) | undefined;

  constructor(
    private readonly settings: RedisSettings,
    private readonly patterns: readonly string[],
    private readonly events: LinkEvents,
    private readonly log: Logger,
    private readonly options: LinkOptions = {},
  ) {
    this.url = parseRedisUrl(settings.url);
    this.command = new Redis(settings.url, this.clientOptions('epoxy-hostmaps'));
    this.subscriber = new Redis(settings.url, this.clientOptions('epoxy-hostmaps-sub'));
    this.watchCommand();
    this.watchSubscriber();
  }

  get state(): ConnectionState {
    return this.connection;
  }

  get error(): string | undefined {
    return this.lastError;
  }

  get isUp(): boolean {
    return this.connection === 'connected';
  }

  /**
   * Connects both connections. Resolves true once up, false at the first failure or after
   * connectTimeoutMs; in both cases the client keeps reconnecting with backoff.
   */
  connect(): Promise<boolean> {
    const outcome = new Promise<boolean>((resolve) => {
      this.firstOutcome = resolve;
    });
    const timer = setTimeout(() => this.failFirst('no connection within the start timeout'), this.options.connectTimeoutMs ?? 5000);
    timer.unref();
    this.command.connect().catch((err: unknown) => this.noteError(err));
    this.subscriber.connect().catch((err: unknown) => this.noteError(err));
    return outcome.finally(() => clearTimeout(timer));
  }

  close(): void {
    this.closing = true;
    this.firstOutcome?.(false);
    this.command.disconnect();
    this.subscriber.disconnect();
  }

  private clientOptions(connectionName: string): RedisOptions {
    return {
      lazyConnect: true,
      connectionName,
      // Reads while down fail at once (the copy stays as it is; a resync follows the reconnect).
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      autoResubscribe: false,
      retryStrategy: reconnectDelay,
      connectTimeout: this.options.connectTimeoutMs ?? 5000,
      commandTimeout: this.options.commandTimeoutMs ?? 15000,
      keepAlive: 10_000,
    };
  }

  private watchCommand(): void {
    const c = this.command;
    c.on('ready', () => {
      if (c.status !== 'ready') return;
      this.commandReady = true;
      this.checkUp();
    });
    c.on('close', () => {
      this.commandReady = false;
      this.down();
    });
    c.on('error', (err: unknown) => this.noteError(err));
  }

  private watchSubscriber(): void {
    const s = this.subscriber;
    s.on('ready', () => {
      if (s.status === 'ready') void this.subscribe();
    });
    s.on('close', () => {
      this.subscribed = false;
      this.down();
    });
    s.on('error', (err: unknown) => this.noteError(err));
    s.on('message', (_channel: string, text: string) => this.events.message(text));
    s.on('pmessage', (_pattern: string, channel: string, _event: string) => {
      const at = channel.indexOf(':');
      if (at >= 0) this.events.keyspace(channel.slice(at + 1));
    });
  }

  private async subscribe(): Promise<void> {
    try {
      await this.subscriber.subscribe(this.settings.channel);
      if (this.patterns.length > 0) await this.subscriber.psubscribe(...this.patterns);
      this.subscribed = true;
      this.checkUp();
    } catch (err) {
      this.noteError(err);
      // Without the subscriptions changes would go unseen: start this connection over.
      if (!this.closing) this.subscriber.disconnect(true);
    }
  }

  private checkUp(): void {
    if (this.closing || !this.commandReady || !this.subscribed || this.connection === 'connected') return;
    this.everUp = true;
    this.lastError = undefined;
    this.setState('connected');
    this.firstOutcome?.(true);
    this.firstOutcome = undefined;
    this.events.up();
  }

  private down(): void {
    if (this.closing) return;
    if (this.connection === 'connected') this.setState('reconnecting');
    else if (!this.everUp) this.failFirst(this.lastError ?? 'connection closed');
  }

  private failFirst(why: string): void {
    if (this.everUp || this.closing) return;
    this.lastError ??= why;
    if (this.connection !== 'unreachable') this.setState('unreachable');
    this.firstOutcome?.(false);
    this.firstOutcome = undefined;
  }

  private setState(next: ConnectionState): void {
    const previous = this.connection;
    if (previous === next) return;
    this.connection = next;
    this.events.state(next, previous, this.lastError);
  }

  private noteError(err: unknown): void {
    const text = errorText(err, this.settings.url);
    // "Connection is closed." follows the real cause (ECONNREFUSED, WRONGPASS): keep the cause.
    if (text === CLOSED && this.lastError !== undefined) return;
    if (text !== this.lastError) this.log.debug({ url: this.url.redacted, error: text }, 'hostmaps: redis connection error');
    this.lastError = text;
  }
}
