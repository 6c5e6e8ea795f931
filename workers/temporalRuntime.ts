/** Installs Temporal's runtime once per process with a quieter logger than its default. */
import { DefaultLogger, Runtime } from '@temporalio/worker';

let installed = false;

export function installTemporalRuntime(): void {
  if (installed) return;
  installed = true;
  try {
    Runtime.install({ logger: new DefaultLogger((process.env.TEMPORAL_LOG_LEVEL as 'WARN') ?? 'WARN') });
  } catch {
    // Already installed by someone else in this process (a test harness): keep theirs.
  }
}
