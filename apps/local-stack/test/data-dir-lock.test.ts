/**
 * One stack per data folder: a second stack (or `pnpm start`) on a folder a live process holds is refused
 * before it deletes anything; a lock its holder left behind when it died is taken over.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { claimDataDir, DATA_DIR_LOCK_FILE, DataDirInUseError } from '../src/data-dir-lock.js';
import { loadStackConfig } from '../src/stack-config.js';
import { startStack } from '../src/supervisor.js';
import { FIXTURE, FREE } from './helpers.js';

let holder: ChildProcess | undefined;
const dirs: string[] = [];

afterEach(async () => {
  holder?.kill('SIGKILL');
  holder = undefined;
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function folder(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'alleycat-lock-'));
  dirs.push(dir);
  return dir;
}

/** A live process that is not this one, as another stack would be. */
async function otherProcess(): Promise<number> {
  holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
  await new Promise((resolve) => holder!.once('spawn', resolve));
  return holder.pid!;
}

describe('data folder lock', () => {
  it('claims a folder, again for its holder, and releases it', async () => {
    const dir = await folder();
    const release = await claimDataDir(dir);
    expect(await readFile(path.join(dir, DATA_DIR_LOCK_FILE), 'utf8')).toBe(String(process.pid));
    await claimDataDir(dir); // the same process: a stack inside `pnpm start`
    await release();
    expect(await readdir(dir)).toEqual([]);
  });

  it("refuses a live holder's folder, naming it and the pid, and takes over a dead holder's", async () => {
    const dir = await folder();
    const pid = await otherProcess();
    await writeFile(path.join(dir, DATA_DIR_LOCK_FILE), String(pid));
    const refused = await claimDataDir(dir).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(DataDirInUseError);
    expect((refused as Error).message).toBe(
      `the data folder ${dir} is in use by process ${pid} (another pnpm stack or pnpm start): stop it, or give --data-dir another folder`,
    );
    holder!.kill('SIGKILL');
    await new Promise((resolve) => holder!.once('exit', resolve));
    const release = await claimDataDir(dir);
    expect(await readFile(path.join(dir, DATA_DIR_LOCK_FILE), 'utf8')).toBe(String(process.pid));
    await release();
  });

  it('stops startStack before it touches a held folder: the running stack keeps its checkpoints', async () => {
    const dir = await folder();
    const checkpoint = path.join(dir, 'checkpoints', 'mapping', 'shardId-000000000000.json');
    await mkdir(path.dirname(checkpoint), { recursive: true });
    await writeFile(checkpoint, '{"sequenceNumber":"1"}');
    const pid = await otherProcess();
    await writeFile(path.join(dir, DATA_DIR_LOCK_FILE), String(pid));
    const config = await loadStackConfig(FIXTURE, 'dev-alleycat');
    // Any existing file passes the bundle check, which comes first; nothing is started.
    const bundle = fileURLToPath(import.meta.url);
    await expect(startStack({ config, ports: FREE, dataDir: dir, bundle })).rejects.toThrow(
      DataDirInUseError,
    );
    expect(await readFile(checkpoint, 'utf8')).toBe('{"sequenceNumber":"1"}');
    expect((await readdir(dir)).sort()).toEqual([DATA_DIR_LOCK_FILE, 'checkpoints']);
  });
});
