/**
 * The bundle takes the workspace packages it imports from their built `dist/`: a missing or stale build would
 * fail the bundle obscurely or, worse, ship old code. Checked first, with the command that fixes it.
 */
import { type Dirent, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Newest modification time (ms) of the files under `dir` (tests aside), or -1 when it does not exist. */
function newest(dir: string): number {
  let latest = -1;
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return -1;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) latest = Math.max(latest, newest(path));
    else if (!entry.name.includes('.test.')) latest = Math.max(latest, statSync(path).mtimeMs);
  }
  return latest;
}

/** Throws, naming each workspace dependency of `packageRoot` whose `dist/` is missing or older than `src/`. */
export function assertDependenciesBuilt(packageRoot: string): void {
  const manifest = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as {
    name: string;
    dependencies?: Record<string, string>;
  };
  const problems: string[] = [];
  for (const [name, version] of Object.entries(manifest.dependencies ?? {})) {
    if (!version.startsWith('workspace:')) continue;
    let dir: string;
    try {
      dir = realpathSync(join(packageRoot, 'node_modules', name));
    } catch {
      problems.push(`${name} is not installed (run pnpm install)`);
      continue;
    }
    const built = newest(join(dir, 'dist'));
    if (built < 0) problems.push(`${name} is not built (no dist/)`);
    else if (newest(join(dir, 'src')) > built) problems.push(`${name}'s dist/ is older than its src/`);
  }
  if (problems.length > 0) {
    throw new Error(
      `${problems.join('; ')}. Build it with the bundle: pnpm --filter "${manifest.name}..." build`,
    );
  }
}
