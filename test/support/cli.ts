/** Runs the golemflow command line in-process, capturing what it prints and its exit code. */
import { vi } from 'vitest';
import { runCli } from '../../cli/golemflow.js';

/** `apiKey` is what GOLEMFLOW_API_KEY holds for this one run (the market's own requestor key, in tests). */
export async function runGolemflow(args: string[], apiKey?: string): Promise<{ code: number; out: string; err: string }> {
  const before = process.env.GOLEMFLOW_API_KEY;
  if (apiKey) process.env.GOLEMFLOW_API_KEY = apiKey;
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
  process.exitCode = undefined;
  try {
    const code = await runCli(args);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
    process.exitCode = undefined;
    if (before === undefined) delete process.env.GOLEMFLOW_API_KEY;
    else process.env.GOLEMFLOW_API_KEY = before;
  }
}
