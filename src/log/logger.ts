import { pino, type Logger } from 'pino';

export type { Logger };

/** The logger epoxy uses when the caller gives none: JSON lines on stdout, level from EPOXY_LOG_LEVEL. */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino({
    name: options.name ?? 'epoxy',
    level: options.level ?? process.env['EPOXY_LOG_LEVEL'] ?? 'info',
  });
}

/** A logger that drops everything; tests and embedders that log elsewhere use it. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
