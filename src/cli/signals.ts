import type { Logger } from '../log/logger.js';

/**
 * Runs `shutdown` on the first SIGINT/SIGTERM and resolves with its exit code. A second signal
 * exits with 1 at once: an operator pressing Ctrl-C twice wants out, not a longer drain.
 */
export function shutdownOnSignal(logger: Logger, shutdown: () => Promise<void>): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting without waiting for the drain');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal }, 'stopping gracefully (send the signal again to exit immediately)');
      shutdown().then(
        () => resolve(0),
        (err: unknown) => {
          logger.error({ err }, 'graceful stop failed');
          resolve(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
