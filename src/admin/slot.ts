/**
 * The proxy's admin server across reloads: which one runs, how a reload moves it to a new bind
 * (and back again when the rest of the reload fails), and how the old one goes.
 */
import type { Logger } from 'pino';

import { parseAddress } from '../config/address.js';
import type { ResolvedAdmin } from '../config/types.js';
import type { AdminHost } from './host.js';
import { AdminServer } from './server.js';

/** An admin server replaced by a reload lets its requests in flight (the reload's own) finish. */
const CLOSE_GRACE_MS = 2_000;

/** A new admin server bound by a reload, and how to go back to the old one. */
export interface AdminMove {
  started: AdminServer;
  undo: () => Promise<void>;
}

export class AdminSlot {
  readonly #host: AdminHost;
  readonly #logger: Logger;
  #server: AdminServer | undefined;

  constructor(host: AdminHost, logger: Logger) {
    this.#host = host;
    this.#logger = logger;
  }

  /** The running admin server's `http://ip:port/`, if one runs. */
  get url(): string | undefined {
    return this.#server?.url;
  }

  /** Starts the first admin server; rejects (naming the bind) if it cannot listen. */
  async open(admin: ResolvedAdmin): Promise<void> {
    this.#server = await this.#listen(admin);
    // Where an operator points a browser (epoxy run prints it at start).
    const url = this.#server.url;
    this.#logger.info({ admin: url, token: admin.token !== undefined }, `admin: ${url} (dashboard, /stats, /metrics)`);
  }

  /**
   * A reload's first step: when `next` binds elsewhere, a server listening there (undefined when
   * the bind stays or there is no admin server next). A move between a specific address and the
   * wildcard on one port (127.0.0.1:9900 → 0.0.0.0:9900) collides with our own socket: the old
   * server then stops listening first (requests in flight keep their grace), and `undo` listens
   * on its address again, with `before` (the running config's admin settings), should the new
   * bind or the rest of the reload fail.
   */
  async move(next: ResolvedAdmin | undefined, before: ResolvedAdmin | undefined): Promise<AdminMove | undefined> {
    if (!next || next.bind === this.#server?.bind) return undefined;
    try {
      const started = await this.#listen(next);
      return { started, undo: () => started.close() };
    } catch (err) {
      const old = this.#server;
      if (!old || !before || !addressInUse(err) || portOf(before.bind) !== portOf(next.bind)) throw err;
      void old.close(CLOSE_GRACE_MS);
      const putBack = async () => {
        try {
          this.#server = await this.#listen(before);
        } catch (lost) {
          this.#server = undefined;
          this.#logger.error({ err: lost, admin: before.bind }, 'admin server lost: its address could not be bound again');
        }
      };
      let started: AdminServer;
      try {
        started = await this.#listen(next);
      } catch (again) {
        await putBack();
        throw again;
      }
      return {
        started,
        undo: async () => {
          await started.close();
          await putBack();
        },
      };
    }
  }

  /** A reload's last step: the moved server replaces the old, or the old takes the new settings. */
  commit(next: ResolvedAdmin | undefined, move: AdminMove | undefined): void {
    const old = this.#server;
    if (move) {
      this.#server = move.started;
      void old?.close(CLOSE_GRACE_MS);
      this.#logger.info({ admin: move.started.url, was: old?.url }, `admin: ${move.started.url} (dashboard, /stats, /metrics)`);
    } else if (next) {
      old?.update(next);
    } else if (old) {
      this.#server = undefined;
      void old.close(CLOSE_GRACE_MS);
      this.#logger.info({ was: old.url }, 'admin server closed');
    }
  }

  /** Closes the running server at once (the proxy is stopping). */
  close(): void {
    void this.#server?.close();
    this.#server = undefined;
  }

  #listen(admin: ResolvedAdmin): Promise<AdminServer> {
    return AdminServer.listen(admin, { host: this.#host, logger: this.#logger.child({ component: 'admin' }) });
  }
}

function addressInUse(err: unknown): boolean {
  const cause = err instanceof Error ? (err.cause as NodeJS.ErrnoException | undefined) : undefined;
  return cause?.code === 'EADDRINUSE';
}

function portOf(bind: string): number | undefined {
  const parsed = parseAddress(bind);
  return 'error' in parsed ? undefined : parsed.port;
}
