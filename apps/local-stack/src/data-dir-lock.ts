/**
 * One stack per data folder. A second `pnpm stack` or `pnpm start` on the same folder (free ports make that
 * easy) would delete the first one's checkpoints and inspection files while it runs: the lock file names the
 * holder's pid, and a live holder refuses the newcomer. A lock left by a process that died is taken over.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LocalStackError } from './errors.js';

export const DATA_DIR_LOCK_FILE = '.alleycat.lock';

export class DataDirInUseError extends LocalStackError {
  readonly dataDir: string;
  readonly pid: number;
  constructor(dataDir: string, pid: number) {
    super(
      `the data folder ${dataDir} is in use by process ${pid} (another pnpm stack or pnpm start): stop it, or give --data-dir another folder`,
    );
    this.name = 'DataDirInUseError';
    this.dataDir = dataDir;
    this.pid = pid;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

/** Claims `dataDir` for this process (again, if it already holds it); returns the release. */
export async function claimDataDir(dataDir: string): Promise<() => Promise<void>> {
  const lock = path.join(dataDir, DATA_DIR_LOCK_FILE);
  await mkdir(dataDir, { recursive: true });
  for (;;) {
    try {
      await writeFile(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number.parseInt(await readFile(lock, 'utf8').catch(() => ''), 10);
    if (holder === process.pid) break;
    if (Number.isInteger(holder) && holder > 0 && alive(holder)) throw new DataDirInUseError(dataDir, holder);
    await rm(lock, { force: true }); // its holder died: take it over (the loop's exclusive create decides a race)
  }
  return async () => {
    const holder = await readFile(lock, 'utf8').catch(() => '');
    if (holder === String(process.pid)) await rm(lock, { force: true });
  };
}
