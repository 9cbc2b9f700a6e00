/** Command-line flags shared by `pnpm stack` and `pnpm start`: parse errors as usage errors, ports, paths. */
import path from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';

export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * `parseArgs` with its errors (an unknown flag, a missing value) turned into a usage line and exit code 2
 * instead of a stack trace.
 */
export function parseFlags<T extends ParseArgsConfig>(
  command: string,
  config: T,
  usage: string,
): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    process.stderr.write(`${command}: ${(error as Error).message}\n${usage}`);
    process.exit(2);
  }
}

/** A TCP port flag: an integer in [0, 65535] (0: a free one), else a `UsageError` naming the flag. */
export function portFlag(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const port = Number(value);
  if (value.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new UsageError(`--${flag}: expected a port number 0–65535, got ${JSON.stringify(value)}`);
  }
  return port;
}

/**
 * A path given on the command line, resolved against the directory the user ran the command in: pnpm runs
 * the package's script in the package's folder and says where it was called from in `INIT_CWD`.
 */
export function userPath(value: string): string {
  return path.resolve(process.env['INIT_CWD'] ?? process.cwd(), value);
}
