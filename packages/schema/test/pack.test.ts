/**
 * Packs the package as it would be published and installs the tarball into a scratch project outside the
 * workspace, as a partner would; then imports it, validates a message and loads the JSON Schema by its
 * export path. Catches a broken `exports` map, missing files and workspace-only imports.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'alleycat-schema-partner-'));

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('published package', () => {
  it('installs from its tarball and works outside the workspace', () => {
    // `prepack` builds dist/ first, so the tarball never ships stale code.
    execFileSync('pnpm', ['pack', '--pack-destination', scratch], { cwd: packageDir, stdio: 'pipe' });
    const tarball = readdirSync(scratch).find((f) => f.endsWith('.tgz'));
    expect(tarball).toBeDefined();

    const files = execFileSync('tar', ['-tzf', join(scratch, tarball!)], { encoding: 'utf8' }).split('\n');
    expect(files).toContain('package/dist/index.js');
    expect(files).toContain('package/dist/index.d.ts');
    expect(files).toContain('package/json-schema/race-message.schema.json');
    expect(files).toContain('package/README.md');
    expect(files).toContain('package/CHANGELOG.md');
    expect(files).toContain('package/LICENSE');
    expect(files).toContain('package/json-schema/validate.py');
    expect(files.some((f) => f.endsWith('.d.ts.map'))).toBe(false);
    expect(files.some((f) => f.includes('.test.'))).toBe(false);
    expect(files.some((f) => f.startsWith('package/src/'))).toBe(false);

    const project = join(scratch, 'partner');
    execFileSync('mkdir', ['-p', project]);
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'partner-bike', private: true, type: 'module' }),
    );
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--offline', join(scratch, tarball!)], {
      cwd: project,
      stdio: 'pipe',
    });
    writeFileSync(
      join(project, 'check.mjs'),
      `import { parseRaceMessage, planCapacity, output } from '@alleycat/schema';
import schema from '@alleycat/schema/race-message.schema.json' with { type: 'json' };
import sameSchema from '@alleycat/schema/json-schema/race-message.schema.json' with { type: 'json' };
import { readFileSync } from 'node:fs';
const map = JSON.parse(readFileSync(new URL('race-message.js.map', import.meta.resolve('@alleycat/schema')), 'utf8'));
const fromBuffer = parseRaceMessage(new TextEncoder().encode('{"event":"final","deviceTimestamp":1,"second":3,"raceId":1,"name":"Ana","racerId":2,"classId":1,"cadence":60,"resistance":60}').buffer);
const ok = parseRaceMessage('{"event":"update","deviceTimestamp":1620824038331,"second":3,"raceId":5402746,"name":"Hayden","racerId":0,"classId":1,"cadence":79.8,"resistance":79}');
const bad = parseRaceMessage('{"event":"update"}');
console.log(JSON.stringify({ ok: ok.ok, bad: bad.ok ? null : bad.error.code, id: schema.$id, same: sameSchema.$id === schema.$id, fromBuffer: fromBuffer.ok && fromBuffer.message.racerId, sources: map.sourcesContent?.length === map.sources.length, shards: planCapacity({ riders: 1000 }).shards, out: output(65, 35) }));
`,
    );
    const printed = execFileSync('node', ['check.mjs'], { cwd: project, encoding: 'utf8' });
    expect(JSON.parse(printed)).toEqual({
      ok: true,
      bad: 'missing_field',
      id: 'https://alleycat.dev/schema/v1/race-message.schema.json',
      same: true,
      fromBuffer: 2,
      sources: true,
      shards: 2,
      out: 100,
    });
  }, 120_000);
});
