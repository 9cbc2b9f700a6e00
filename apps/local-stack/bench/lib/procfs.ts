/**
 * CPU time and peak memory of a process, read from Linux's /proc by process id: how each part of the stack is
 * measured (each part is its own child process, see src/supervisor.ts). Pure parsers plus thin readers.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of `utime`/`stime` in /proc/<pid>/stat (`getconf CLK_TCK`: 100 on Linux x86-64). */
export const CLOCK_TICKS_PER_SECOND = 100;

/** user + system CPU seconds from the text of /proc/<pid>/stat (fields 14 and 15; `comm` may hold spaces). */
export function parseCpuSeconds(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`unreadable /proc stat: ${stat}`);
  return (utime + stime) / CLOCK_TICKS_PER_SECOND;
}

/** A `VmXxx:  123 kB` line of /proc/<pid>/status, in MiB (NaN when absent). */
export function parseStatusMb(status: string, field: 'VmHWM' | 'VmRSS'): number {
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

export interface ProcessSample {
  cpuSeconds: number;
  /** Peak resident memory since the process started (VmHWM), MiB. */
  peakRssMb: number;
}

/** CPU seconds and peak RSS of `pid` now; undefined when the process is gone. */
export function sampleProcess(pid: number): ProcessSample | undefined {
  try {
    return {
      cpuSeconds: parseCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8')),
      peakRssMb: parseStatusMb(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmHWM'),
    };
  } catch {
    return undefined;
  }
}

/** One measured part: CPU used between two samples, as seconds and as % of one core over that wall time. */
export interface PartUsage {
  part: string;
  pids: number[];
  cpuSeconds: number;
  cpuPercentOfOneCore: number;
  peakRssMb: number;
}

/**
 * Tracks named groups of processes (a "part" may be several processes, e.g. Kinesis = kinesalite + the limits
 * layer, or several simulator processes): `start()` takes the baseline, `finish()` the usage since.
 */
export class UsageMeter {
  private readonly groups = new Map<string, number[]>();
  private readonly baseline = new Map<number, number>();
  /** Last sample of each pid, so a process that exits before `finish()` still counts (its last reading). */
  private readonly last = new Map<number, ProcessSample>();
  private readonly ended = new Set<number>();
  private startedAt = 0;

  add(part: string, pid: number): void {
    const pids = this.groups.get(part) ?? [];
    pids.push(pid);
    this.groups.set(part, pids);
    if (this.startedAt > 0) this.track(pid, true);
  }

  start(): void {
    this.startedAt = performance.now();
    for (const pids of this.groups.values()) for (const pid of pids) this.track(pid, true);
  }

  /** A final reading the process reported itself (e.g. `process.resourceUsage()` just before it exits). */
  final(pid: number, sample: ProcessSample): void {
    this.last.set(pid, sample);
    this.ended.add(pid);
  }

  /** Samples every tracked process (call now and then, and just before a process exits). */
  poll(): void {
    for (const pids of this.groups.values()) for (const pid of pids) this.track(pid, false);
  }

  finish(): PartUsage[] {
    this.poll();
    const wallSeconds = (performance.now() - this.startedAt) / 1000;
    return [...this.groups].map(([part, pids]) => {
      let cpuSeconds = 0;
      let peakRssMb = 0;
      for (const pid of pids) {
        const sample = this.last.get(pid);
        if (sample === undefined) continue;
        cpuSeconds += sample.cpuSeconds - (this.baseline.get(pid) ?? 0);
        peakRssMb = Math.max(peakRssMb, sample.peakRssMb);
      }
      return {
        part,
        pids,
        cpuSeconds: round(cpuSeconds, 2),
        cpuPercentOfOneCore: round((100 * cpuSeconds) / Math.max(wallSeconds, 1e-9), 1),
        // Several processes of one part run at once: their peaks add up (an upper bound of the part's peak).
        peakRssMb: round(pids.length > 1 ? this.sumPeaks(pids) : peakRssMb, 0),
      };
    });
  }

  private sumPeaks(pids: number[]): number {
    return pids.reduce((sum, pid) => sum + (this.last.get(pid)?.peakRssMb ?? 0), 0);
  }

  private track(pid: number, baseline: boolean): void {
    if (this.ended.has(pid)) return;
    const sample = sampleProcess(pid);
    if (sample === undefined) return;
    if (baseline && !this.baseline.has(pid)) this.baseline.set(pid, sample.cpuSeconds);
    this.last.set(pid, sample);
  }
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;
