/**
 * "Logged once" for bad data: the same garbage entry is met again on every resync (every 30 s),
 * and a warning each time would bury the log. The memory is bounded so that a key full of junk
 * cannot grow it without limit; past the bound one line says further reports are dropped.
 */
import type { Logger } from 'pino';

const DEFAULT_LIMIT = 10_000;

export class OnceLog {
  private readonly seen = new Set<string>();
  private full = false;

  constructor(
    private readonly log: Logger,
    private readonly limit = DEFAULT_LIMIT,
  ) {}

  /** Logs at warn unless this id was logged before. Returns true when it logged. */
  warn(id: string, fields: Record<string, unknown>, message: string): boolean {
    if (this.seen.has(id)) return false;
    if (this.seen.size >= this.limit) {
      if (!this.full) this.log.warn({ limit: this.limit }, 'hostmaps: too many distinct data problems; further ones are not logged');
      this.full = true;
      return false;
    }
    this.seen.add(id);
    this.log.warn(fields, message);
    return true;
  }
}
