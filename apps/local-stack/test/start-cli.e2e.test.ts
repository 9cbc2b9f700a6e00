/**
 * `pnpm start` (src/cli/start.ts) as a user runs it, in a child process: a short race to its final results
 * (exit 0, plain progress lines when stdout is not a terminal), a busy port named in the error, and Ctrl-C
 * (SIGINT) mid-race stopping every process it started and freeing every port.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { alive, FIXTURE, waitFor } from './helpers.js';

const START = path.join(import.meta.dirname, '..', 'src', 'cli', 'start.ts');
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

const dirs: string[] = [];
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

async function start(args: string[]): Promise<Run> {
  const dir = await mkdtemp(path.join(tmpdir(), 'alleycat-start-'));
  dirs.push(dir);
  const child = spawn(
    process.execPath,
    ['--import', TSX, START, `--stack-file=${FIXTURE}`, `--data-dir=${dir}`, ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, exit };
}

function portsIn(text: string): number[] {
  return [...text.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
}

async function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

function descendants(pid: number): number[] {
  const out = execFileSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' });
  const rows = out
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number) as [number, number]);
  const found: number[] = [];
  const walk = (parent: number) => {
    for (const [child, ppid] of rows) {
      if (ppid === parent) {
        found.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return found;
}

describe('pnpm start', () => {
  it('runs a short race to its final results, prints plain progress lines, exits 0 and frees its ports', async () => {
    const race = await start(['--riders=40', '--classes=2', '--seconds=8', '--speedup=4', '--seed=5']);
    const code = await race.exit;
    expect(race.stderr()).not.toMatch(/pnpm start:/);
    expect(code).toBe(0);
    const stdout = race.stdout();
    expect(stdout).toMatch(/stack up in/);
    expect(stdout).toMatch(/^second \d+\/8 {2}in /m); // a plain progress line, no escape codes
    expect(stdout).not.toContain('\x1b[');
    expect(stdout).toMatch(/Final results/);
    expect(stdout).toMatch(/80 delivered|320 delivered/);
    const dataDir = dirs[dirs.length - 1]!;
    const results = JSON.parse(await readFile(path.join(dataDir, 'results.json'), 'utf8'));
    expect(results.unfinished).toEqual([]);
    expect(results.races).toHaveLength(2);
    expect(results.races.map((r: { standings: unknown[] }) => r.standings.length)).toEqual([20, 20]);
    expect(results.simulator).toMatchObject({ messages: 320, delivered: 320, failed: 0 });
    expect(results.lambdaMetrics.Messages).toBe(320);
    for (const port of portsIn(stdout)) expect(await isFree(port)).toBe(true);
  }, 180_000);

  // The WebSocket listener too: its EADDRINUSE once crashed the broker with a stack trace instead.
  it.each(['mqtt-port', 'ws-port'])(
    'names a busy --%s and starts nothing',
    async (flag) => {
      const blocker = net.createServer();
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
      const port = (blocker.address() as net.AddressInfo).port;
      try {
        const race = await start([`--${flag}=${port}`, '--riders=10', '--seconds=2']);
        expect(await race.exit).toBe(1);
        const part = flag === 'ws-port' ? 'MQTT broker (WebSocket)' : 'MQTT broker';
        expect(race.stderr()).toContain(`${part}: port ${port} on 127.0.0.1 is already in use`);
        expect(race.stderr()).not.toMatch(/Unhandled|at .*\.js:\d+/);
        expect(descendants(race.child.pid!)).toEqual([]);
      } finally {
        blocker.close();
      }
    },
    180_000,
  );

  it('refuses a port that is not a number, and an unknown flag, with the usage', async () => {
    for (const args of [['--mqtt-port=abc'], ['--mqtt-prt=1']]) {
      const run = await start(args);
      expect(await run.exit).toBe(2);
      expect(run.stderr()).toMatch(
        /^pnpm start: .*(--mqtt-port: expected a port number|Unknown option '--mqtt-prt')/m,
      );
      expect(run.stderr()).toContain('pnpm start [--riders 1000]');
    }
  }, 120_000);

  it('stops every process it started on Ctrl-C (SIGINT) mid-race, and frees the ports', async () => {
    const race = await start(['--riders=40', '--classes=2', '--seconds=60']);
    await waitFor(() => /^second [1-9]/m.test(race.stdout()) || undefined, 60_000);
    const pids = descendants(race.child.pid!);
    expect(pids.length).toBeGreaterThanOrEqual(7); // six parts and the simulator
    race.child.kill('SIGINT');
    expect(await race.exit).toBe(130);
    await waitFor(() => pids.every((pid) => !alive(pid)) || undefined, 10_000);
    for (const port of portsIn(race.stdout())) expect(await isFree(port)).toBe(true);
  }, 180_000);
});
