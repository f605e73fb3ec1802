import { CommanderError } from 'commander';
import { TomeError } from '../errors.js';

/** Exit codes: 0 done, 1 a bug in tome (please report), 2 bad input or usage, 130 interrupted. */
export const EXIT_BUG = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

/**
 * Print what went wrong and how to fix it — no stack trace for anything the user can fix. Returns the exit code.
 * Set TOME_DEBUG=1 to see stacks.
 */
export function reportError(error: unknown, stderr: NodeJS.WritableStream = process.stderr): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : EXIT_USAGE; // commander already printed it
  if (TomeError.is(error)) {
    stderr.write(`tome: ${error.message}\n  fix: ${error.fix}\n`);
    if (process.env.TOME_DEBUG) stderr.write(`${error.stack}\n`);
    return error.code === 'ABORTED' ? EXIT_INTERRUPTED : EXIT_USAGE;
  }
  const message = error instanceof Error ? error.message : String(error);
  stderr.write(`tome: unexpected error: ${message}\n  this is a bug in tome; rerun with TOME_DEBUG=1 and report the output\n`);
  if (process.env.TOME_DEBUG && error instanceof Error) stderr.write(`${error.stack}\n`);
  return EXIT_BUG;
}
