/**
 * Temporal's runtime, installed once per process: its logs (the SDK's and its Rust core's)
 * go through the project's one structured logger instead of coloured console lines, and its
 * metrics (workers, pollers, task latencies) are buffered for the nodes' /metrics (infra/metrics.ts).
 */
import { makeTelemetryFilterString, MetricsBuffer, Runtime, type LogLevel, type LogMetadata, type Logger } from '@temporalio/worker';
import { logger } from '../infra/logger.js';
import { setTemporalMetricsSource } from '../infra/metrics.js';

let installed = false;

const LEVELS: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };

/** Temporal's Logger interface on pino: one JSON line per message, its metadata as fields. */
class PinoTemporalLogger implements Logger {
  constructor(private readonly level: LogLevel) {}
  /**
   * The project's own lines from activities and workflows (a provider's agreements and runs)
   * pass at info; Temporal's worker and core lines at TEMPORAL_LOG_LEVEL.
   */
  private enabled(level: LogLevel, component: unknown): boolean {
    const order: LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];
    const floor = component === 'activity' || component === 'workflow' ? 'INFO' : this.level;
    return order.indexOf(level) >= order.indexOf(floor);
  }
  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    if (!this.enabled(level, meta?.sdkComponent)) return;
    // The task token is an opaque blob of hundreds of characters: of no use to a reader.
    const { sdkComponent, taskQueue, workflowId, activityId, taskToken: _token, ...rest } = (meta ?? {}) as Record<string, unknown>;
    // The ids first and by name, so a search for one finds every line about it.
    logger[LEVELS[level]]({ temporal: sdkComponent ?? 'core', taskQueue, workflowId, activityId, ...rest }, message);
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}

export function installTemporalRuntime(): void {
  if (installed) return;
  installed = true;
  const level = ((process.env.TEMPORAL_LOG_LEVEL ?? 'WARN').toUpperCase() as LogLevel) in LEVELS ? ((process.env.TEMPORAL_LOG_LEVEL ?? 'WARN').toUpperCase() as LogLevel) : 'WARN';
  const buffer = new MetricsBuffer({ maxBufferSize: 50_000, useSecondsForDurations: true });
  try {
    Runtime.install({
      logger: new PinoTemporalLogger(level),
      telemetryOptions: {
        logging: { filter: makeTelemetryFilterString({ core: level }), forward: {} },
        metrics: { buffer },
      },
    });
    setTemporalMetricsSource(() => buffer.retrieveUpdates());
  } catch {
    // Already installed by someone else in this process (a test harness): keep theirs.
  }
}
