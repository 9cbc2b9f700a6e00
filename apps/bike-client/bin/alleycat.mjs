#!/usr/bin/env node
// The `alleycat` command. Runs the TypeScript sources through tsx (no build step for this package); the
// workspace packages it imports (@alleycat/schema, @alleycat/kinesis-agg) must be built: the root script
// `pnpm alleycat` builds them first (turbo, cached).

// The AWS SDK warns on every run that its 2027 releases need Node 22; the lockfile pins the SDK, so the
// warning is noise for a CLI. Every other warning is still printed.
const printWarning = process.listeners('warning');
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (
    String(warning.message).startsWith('NodeVersionSupportWarning') ||
    warning.name === 'NodeVersionSupportWarning'
  )
    return;
  for (const listener of printWarning) listener(warning);
});

try {
  await import('@alleycat/schema');
  await import('@alleycat/kinesis-agg');
} catch (error) {
  process.stderr.write(
    `alleycat: the workspace packages are not built (${error.code ?? error.message}); run \`pnpm build\` (or \`pnpm alleycat …\` from the repo root)\n`,
  );
  process.exit(1);
}

const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
