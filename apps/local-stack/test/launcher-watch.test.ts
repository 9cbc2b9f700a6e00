/**
 * `pnpm stack` / `pnpm start` stop when the package manager that launched them exits without passing a
 * SIGTERM on (pnpm → sh → node, as pnpm runs a script). A stand-in launcher (a script named `pnpm.cjs`) runs
 * a child through `sh -c`; the launcher is then killed alone, and the child must notice and stop by itself.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
const WATCH_MODULE = path.join(PACKAGE_DIR, 'src', 'cli', 'launcher-watch.ts');
const dir = mkdtempSync(path.join(tmpdir(), 'alleycat-launcher-'));
const spawned: ChildProcess[] = [];
let childPid: number | undefined;

afterAll(() => {
  for (const p of spawned) p.kill('SIGKILL');
  if (childPid !== undefined) {
    try {
      process.kill(childPid, 'SIGKILL');
    } catch {}
  }
  rmSync(dir, { recursive: true, force: true });
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe.runIf(process.platform === 'linux')('stopping when the launching package manager exits', () => {
  it('a child run through sh by a launcher stops within a second of the launcher being killed alone', async () => {
    const child = path.join(dir, 'child.mts');
    writeFileSync(
      child,
      `import { stopWhenLauncherExits } from ${JSON.stringify(WATCH_MODULE)};
const launchers = stopWhenLauncherExits(() => { console.log('stopped'); process.exit(0); }, 100);
console.log(\`watching \${launchers[0]?.pid} \${process.pid}\`);
setInterval(() => {}, 1_000);
`,
    );
    const launcher = path.join(dir, 'pnpm.cjs');
    writeFileSync(
      launcher,
      `const { spawn } = require('node:child_process');
spawn('sh', ['-c', '"${process.execPath}" --import tsx "${child}"'], { stdio: 'inherit', cwd: ${JSON.stringify(PACKAGE_DIR)} });
setInterval(() => {}, 1_000); // like pnpm: waits for its script, and dies on SIGTERM without passing it on
`,
    );
    const fake = spawn(process.execPath, [launcher], { stdio: ['ignore', 'pipe', 'inherit'] });
    spawned.push(fake);
    let output = '';
    fake.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const deadline = Date.now() + 20_000;
    while (!/watching \d+ \d+/.test(output) && Date.now() < deadline) await sleep(50);
    // The nearest launcher is the stand-in (a test run by pnpm has more above it, all watched).
    const [, nearest, pid] = output.match(/watching (\d+) (\d+)/) ?? [];
    expect(Number(nearest)).toBe(fake.pid);
    childPid = Number(pid);
    expect(alive(childPid)).toBe(true);

    fake.kill('SIGTERM');
    const killedAt = Date.now();
    while (alive(childPid) && Date.now() - killedAt < 5_000) await sleep(50);
    expect(alive(childPid)).toBe(false);
    expect(Date.now() - killedAt).toBeLessThan(2_000);
  }, 30_000);
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
