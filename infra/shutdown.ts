/** Graceful stops for long-running nodes: shared by the requestor and provider processes. */
import { logger } from './logger.js';

/** Stops on SIGINT/SIGTERM after closing `close`. */
export function closeOnSignals(close: () => Promise<void>): void {
  let closing = false;
  const stop = (sig: string) => {
    if (closing) return;
    closing = true;
    logger.info(`${sig}: shutting down`);
    close().then(
      () => process.exit(0),
      (e) => {
        logger.error({ err: e }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
