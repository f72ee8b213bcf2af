/**
 * The access log: one JSON line per HTTP request, written through pino from the records the
 * engine sends in its event batches. The engine does the sampling (`mode: 'sampled'`) and caps
 * what waits for JS; this side only chooses where lines go: epoxy's own logger (stdout) or a
 * file of their own, written asynchronously so a slow disk never holds up the event loop.
 */
import { once } from 'node:events';
import { pino, type Logger } from 'pino';

import type { ResolvedAccessLog } from '../config/types.js';

/** What one access line carries under `access`, as the engine writes it (times in ms, -1: phase not reached). */
export interface AccessRecord {
  listener: string;
  pool?: string;
  server?: string;
  /** The client's address, `ip:port`. */
  client: string;
  method: string;
  path: string;
  status: number;
  bytesIn: number;
  bytesOut: number;
  /** Time waiting in the pool's queue. */
  tQueue: number;
  /** From the request's first byte to a server connection. */
  tConnect: number;
  /** From the request's first byte to the response head. */
  tResponse: number;
  tTotal: number;
  /**
   * Two letters, as haproxy's: who ended the request (`-` nobody: it completed, `C` the client,
   * `S` the server, `P` the proxy, `c`/`s` a client/server timeout) and in which phase (`-`
   * none, `R` request head, `Q` queue, `C` connect, `H` response head, `D` body data).
   */
  termination: string;
}

/** A switch to new settings, opened but not yet in use: a reload commits it once nothing else can fail. */
export interface AccessLogSwitch {
  commit(): void;
  abandon(): Promise<void>;
}

/** Where lines go. */
interface Sink {
  write(record: Readonly<Record<string, unknown>>): void;
  /** Flushes what is buffered and closes; never rejects. */
  close(): Promise<void>;
}

/**
 * A file sink buffers at most this much for a disk that cannot keep up; beyond it lines are
 * dropped (counted and reported) rather than held in memory without bound. It is more than the
 * engine's whole backlog (100,000 lines of about 300 bytes, delivered at once when JS catches
 * up), so a burst fits and only a disk that stalls loses lines here.
 */
const MAX_BUFFERED_BYTES = 64 * 1024 * 1024;
/** Drops on a file are reported at most this often, with the count so far. */
const DROP_REPORT_MS = 10_000;

export class AccessLog {
  readonly #logger: Logger;
  #settings: ResolvedAccessLog;
  #sink: Sink;
  /** Sinks replaced by a reload and still flushing; stop waits for them. */
  readonly #retiring = new Set<Promise<void>>();

  /** Opens the destination `settings` name; rejects if a file cannot be opened. */
  static async open(settings: ResolvedAccessLog, logger: Logger): Promise<AccessLog> {
    const log = new AccessLog(settings, await openSink(settings, logger), logger);
    if (settings.mode !== 'off') logger.info({ accessLog: settings }, `access log: ${describeSettings(settings)}`);
    return log;
  }

  private constructor(settings: ResolvedAccessLog, sink: Sink, logger: Logger) {
    this.#settings = settings;
    this.#sink = sink;
    this.#logger = logger;
  }

  /** One record from the engine (the fields of AccessRecord). */
  write(record: Readonly<Record<string, unknown>>): void {
    this.#sink.write(record);
  }

  /**
   * Opens what `next` needs, for a reload. A file is opened afresh even when its path did not
   * change: after logrotate has moved it, the reload (SIGHUP) starts a new file, while lines
   * still buffered for the old one go to the old one. Rejects, changing nothing, if the file
   * cannot be opened.
   */
  async prepare(next: ResolvedAccessLog): Promise<AccessLogSwitch> {
    const sink = await openSink(next, this.#logger);
    return {
      commit: () => this.#use(next, sink),
      abandon: () => sink.close(),
    };
  }

  /** Flushes and closes every file this log has open; after the engine has stopped. */
  async close(): Promise<void> {
    await Promise.all([this.#sink.close(), ...this.#retiring]);
  }

  #use(next: ResolvedAccessLog, sink: Sink): void {
    const changed = describeSettings(next) !== describeSettings(this.#settings);
    const retiring = this.#sink.close();
    this.#retiring.add(retiring);
    void retiring.then(() => this.#retiring.delete(retiring));
    this.#sink = sink;
    this.#settings = next;
    if (changed) this.#logger.info({ accessLog: next }, `access log now: ${describeSettings(next)}`);
  }
}

function describeSettings(s: ResolvedAccessLog): string {
  if (s.mode === 'off') return 'off';
  // toPrecision: 0.07 * 100 is 7.000000000000001.
  const percent = Number((s.sampleRate * 100).toPrecision(6));
  const what = s.mode === 'full' ? 'every request' : `${percent}% of requests (sampled)`;
  return `${what} to ${s.destination}`;
}

async function openSink(settings: ResolvedAccessLog, logger: Logger): Promise<Sink> {
  // Nothing arrives when the log is off, so there is no file to open.
  if (settings.mode === 'off' || settings.destination === 'stdout') return loggerSink(logger);
  return openFileSink(settings.destination, logger);
}

/** Lines go through epoxy's logger, with the others; its stream and level apply. */
function loggerSink(logger: Logger): Sink {
  return {
    write: (record) => logger.info({ access: record }, 'access'),
    close: () => Promise.resolve(),
  };
}

type Destination = ReturnType<typeof pino.destination>;

async function openFileSink(file: string, logger: Logger): Promise<Sink> {
  const stream: Destination = pino.destination({ dest: file, sync: false, append: true, mkdir: false, maxLength: MAX_BUFFERED_BYTES });
  // once() rejects on 'error': a file that cannot be opened fails the start or the reload.
  await once(stream, 'ready');
  const health = watchFileHealth(stream, file, logger);
  const fileLogger = pino({ name: 'epoxy' }, stream);
  let closing: Promise<void> | undefined;
  return {
    write: (record) => {
      if (!health.failed && !closing) fileLogger.info({ access: record }, 'access');
    },
    close: () => {
      if (!closing) {
        health.reportDrops();
        closing = closeStream(stream, health.failed);
      }
      return closing;
    },
  };
}

interface FileHealth {
  /** A write failed (disk full, file system gone): the file takes no more lines. */
  readonly failed: boolean;
  /** Logs the drops not reported yet, if any. */
  reportDrops(): void;
}

/** Reports a file's write errors and dropped lines to epoxy's logger, without flooding it. */
function watchFileHealth(stream: Destination, file: string, logger: Logger): FileHealth {
  let failed = false;
  let dropped = 0;
  let reported = 0;
  let lastReport = 0;
  const reportDrops = () => {
    if (dropped === reported) return;
    logger.warn({ destination: file, droppedSoFar: dropped }, 'access log lines dropped: the file cannot keep up');
    reported = dropped;
    lastReport = Date.now();
  };
  stream.on('error', (err: Error) => {
    if (!failed) logger.error({ err, destination: file }, 'access log file failed; its lines are lost until a reload opens it again');
    failed = true;
  });
  stream.on('drop', (data: string | Buffer) => {
    dropped += countLines(data);
    if (Date.now() - lastReport >= DROP_REPORT_MS) reportDrops();
  });
  return {
    get failed() {
      return failed;
    },
    reportDrops,
  };
}

function countLines(data: string | Buffer): number {
  let n = 0;
  for (let i = data.indexOf('\n'); i >= 0; i = data.indexOf('\n', i + 1)) n++;
  return n;
}

/** Flushes and closes; a stream whose writes failed is only destroyed (there is nothing to flush to). */
async function closeStream(stream: Destination, failed: boolean): Promise<void> {
  if (failed) {
    stream.destroy();
    return;
  }
  const closed = once(stream, 'close').catch(() => undefined);
  stream.end();
  await closed;
}
