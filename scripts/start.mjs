#!/usr/bin/env node
// `pnpm start`: builds what the local stack runs (turbo, cached: ~30 s the first time, < 1 s after), then runs
// a race on it (apps/local-stack `src/cli/start.ts`). Flags are passed through: `pnpm start --riders 200 --via kinesis`.
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const turbo = path.join(root, 'node_modules', '.bin', 'turbo');
const steps = [
  // The synthesized stack (cdktf.out) — its task depends on the Lambda bundle's build.
  ['run', 'synth', '--filter=@alleycat/infra'],
  // The workspace packages the local stack and the simulator import.
  ['run', 'build', '--filter=@alleycat/local-stack^...', '--filter=@alleycat/bike-client^...'],
];
process.stderr.write(
  'pnpm start: building the Lambda bundle and synthesizing the stack (cached after the first run)…\n',
);
for (const args of steps) {
  const result = spawnSync(turbo, [...args, '--output-logs=errors-only'], {
    cwd: root,
    stdio: ['ignore', 2, 2],
  });
  if (result.status !== 0) {
    process.stderr.write(
      `pnpm start: \`turbo ${args.join(' ')}\` failed (exit ${result.status ?? result.signal})\n`,
    );
    process.exit(1);
  }
}

const localStack = path.join(root, 'apps', 'local-stack');
const tsx = pathToFileURL(createRequire(path.join(localStack, 'package.json')).resolve('tsx')).href;
const child = spawn(
  process.execPath,
  ['--import', tsx, path.join(localStack, 'src', 'cli', 'start.ts'), ...process.argv.slice(2)],
  {
    stdio: 'inherit',
  },
);
// Ctrl-C reaches the whole process group; SIGTERM sent to this process alone is passed on.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGINT' ? 130 : 1)));
