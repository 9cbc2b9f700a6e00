/**
 * Optional CPU profile of a part (`ALLEYCAT_CPU_PROFILE_DIR=/some/dir`): where each child process spends its
 * time under load, written as `<part>-<pid>.cpuprofile` (Chrome DevTools / speedscope) when the part stops.
 * `node --cpu-prof` cannot be passed through NODE_OPTIONS, hence the inspector session.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import path from 'node:path';

export const CPU_PROFILE_DIR_ENV = 'ALLEYCAT_CPU_PROFILE_DIR';
/** Optional: write the profile this many seconds after the start instead of at the stop (a part too busy to stop in time). */
export const CPU_PROFILE_SECONDS_ENV = 'ALLEYCAT_CPU_PROFILE_SECONDS';

/** Starts profiling if asked to; returns the function that writes the profile (a no-op otherwise). */
export async function startCpuProfile(part: string): Promise<() => Promise<void>> {
  const dir = process.env[CPU_PROFILE_DIR_ENV];
  if (!dir) return async () => {};
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  let written: Promise<void> | undefined;
  const write = () => {
    written ??= (async () => {
      const { profile } = await session.post('Profiler.stop');
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, `${part}-${process.pid}.cpuprofile`), JSON.stringify(profile));
      session.disconnect();
    })();
    return written;
  };
  const seconds = Number(process.env[CPU_PROFILE_SECONDS_ENV]);
  if (seconds > 0) {
    setTimeout(() => {
      write().catch((error: unknown) => process.stderr.write(`cpu profile: ${String(error)}\n`));
    }, seconds * 1000).unref();
  }
  return write;
}
