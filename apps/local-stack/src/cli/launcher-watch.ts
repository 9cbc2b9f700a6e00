/**
 * `pnpm stack` and `pnpm start` run as pnpm → sh → node. Ctrl-C reaches the whole process group, but a SIGTERM
 * sent to pnpm alone (a process manager, an IDE's stop button, a plain `kill`) makes pnpm exit without passing
 * it on: the shell and this process are re-parented and every part keeps its port. So this process watches
 * the package manager that launched it and stops as if signalled when it is gone. Linux (`/proc`) only;
 * elsewhere, and when no package manager launched it, nothing is watched.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** Scripts' names of the package managers that run `pnpm stack` / `pnpm start` (and `npm run`, `yarn`). */
const LAUNCHERS = new Set([
  'pnpm',
  'pnpm.cjs',
  'pnpm.js',
  'npm',
  'npm-cli.js',
  'yarn',
  'yarn.js',
  'yarn.cjs',
]);

interface ProcessInfo {
  /** `Z` once exited and not yet reaped by its parent: gone, for this purpose. */
  state: string;
  parent: number;
  /** Start time in clock ticks since boot: tells the process from a later one that reused its pid. */
  startTicks: string;
  args: string[];
}

/** The process's /proc entry; undefined when it is gone, `'unreadable'` on any other error (kept as running). */
function processInfo(pid: number): ProcessInfo | undefined | 'unreadable' {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces and parentheses): state, ppid, …, starttime (22nd).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    return { state: fields[0]!, parent: Number(fields[1]), startTicks: fields[19]!, args };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ESRCH' ? undefined : 'unreadable';
  }
}

export interface Launcher {
  pid: number;
  startTicks: string;
}

/**
 * The ancestors that are package managers, nearest first: `pnpm stack` at the root runs `pnpm --filter … stack`,
 * and a SIGTERM to the outer one leaves the inner one running, so each of them is watched.
 */
export function findLaunchers(from: number = process.ppid): Launcher[] {
  const launchers: Launcher[] = [];
  let pid = from;
  for (let depth = 0; depth < 12 && pid > 1; depth++) {
    const info = processInfo(pid);
    if (info === undefined || info === 'unreadable') break;
    if (info.args.slice(0, 2).some((arg) => LAUNCHERS.has(path.basename(arg))))
      launchers.push({ pid, startTicks: info.startTicks });
    pid = info.parent;
  }
  return launchers;
}

function isRunning(launcher: Launcher): boolean {
  const now = processInfo(launcher.pid);
  if (now === 'unreadable') return true; // say nothing rather than stop a stack on a transient error
  return now !== undefined && now.startTicks === launcher.startTicks && now.state !== 'Z';
}

/**
 * Calls `stop` once any launching package manager has exited (checked every `intervalMs`). Returns the
 * launchers watched (none: nothing is watched).
 */
export function stopWhenLauncherExits(
  stop: () => void,
  intervalMs = 500,
  // Found at startup by a caller that only starts watching later: the chain is re-parented once pnpm is gone.
  launchers: Launcher[] = findLaunchers(),
): Launcher[] {
  if (launchers.length === 0) return launchers;
  const timer = setInterval(() => {
    if (launchers.every(isRunning)) return;
    clearInterval(timer);
    stop();
  }, intervalMs);
  timer.unref();
  return launchers;
}
