/**
 * The shipped JSON Schema read by another language's validator: Python's `jsonschema`, through the
 * `json-schema/validate.py` the package ships, must reach `parseRaceMessage`'s verdict on every payload
 * (except the rules the README lists as beyond JSON Schema). This is what catches a pattern that another regex
 * engine reads differently (Python's `$` also matches before a final newline) or a JSON value Python's parser
 * takes that JSON does not (`NaN`). Python is Debian's, with python3-jsonschema
 * (`scripts/install-system-deps.sh`); `ALLEYCAT_PYTHON` names another interpreter.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mutatedMessageArb, raceMessageArb, validMessage } from '../test/fixtures.js';
import { parseRaceMessage } from './index.js';

const python = process.env['ALLEYCAT_PYTHON'] ?? '/usr/bin/python3';
const script = fileURLToPath(new URL('../json-schema/validate.py', import.meta.url));
const schema = fileURLToPath(new URL('../json-schema/race-message.schema.json', import.meta.url));

/** Rules JSON Schema cannot express: Python's verdict on these is "ok". */
const BEYOND_JSON_SCHEMA = new Set(['not_utf8', 'identity_mismatch']);

function pythonVerdicts(payloads: string[] | Buffer): string[] {
  const run = spawnSync(python, [script, schema], {
    input: Buffer.isBuffer(payloads) ? payloads : `${payloads.join('\n')}\n`,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.error !== undefined || (run.status !== 0 && run.status !== 1)) {
    throw new Error(
      `${python} ${script} did not run (${run.error?.message ?? `exit ${run.status}`}): ${run.stderr}\n` +
        'Install Debian python3-jsonschema (scripts/install-system-deps.sh) or set ALLEYCAT_PYTHON.',
    );
  }
  return run.stdout.trimEnd().split('\n');
}

/** What Python should say of a payload, from the package's own verdict; undefined: not comparable. */
function expected(payload: string): 'ok' | 'invalid' | 'not_json' | undefined {
  const parsed = parseRaceMessage(payload);
  if (parsed.ok) return 'ok';
  const code = parsed.error.code;
  if (code === 'too_large') return undefined; // the byte budget precedes every other rule
  if (BEYOND_JSON_SCHEMA.has(code)) return 'ok';
  return code === 'not_json' ? 'not_json' : 'invalid';
}

const seed = validMessage();
const withField = (field: string, raw: string) => JSON.stringify(seed).replace(/}$/, `,"${field}":${raw}}`);
const replacing = (field: keyof typeof seed, raw: string) =>
  JSON.stringify({ ...seed, [field]: '@@' }).replace('"@@"', raw);

/** Cases found by hand where engines or parsers part ways. */
const EDGES = [
  JSON.stringify(seed),
  replacing('name', '"Hayden\\n"'),
  replacing('name', '"\\n"'),
  replacing('name', '"Hayden\\r\\n"'),
  replacing('name', '"Hayden\\u0085"'),
  replacing('name', '"Hay\\u007fden"'),
  replacing('name', '"Zoë 🚴"'),
  replacing('name', '"\\u2028"'),
  replacing('name', `"${'é'.repeat(64)}"`),
  replacing('name', `"${'🚴'.repeat(64)}"`),
  replacing('name', `"${'🚴'.repeat(65)}"`),
  replacing('name', '"\\ud800"'),
  withField('clientId', '"racer-0\\n"'),
  withField('uuid', '"123e4567-e89b-12d3-a456-426614174000\\n"'),
  withField('uuid', '"123E4567-E89B-12D3-A456-426614174000"'),
  withField('uuid', '"{123e4567-e89b-12d3-a456-426614174000}"'),
  replacing('cadence', 'NaN'),
  replacing('cadence', 'Infinity'),
  replacing('resistance', '-Infinity'),
  replacing('cadence', '1e400'),
  replacing('cadence', '-0'),
  replacing('raceId', '1.0'),
  replacing('raceId', '9007199254740993'),
  replacing('second', '86400.0000000001'),
  replacing('event', '"Update"'),
  `${JSON.stringify(seed)} `,
  `\t${JSON.stringify(seed)}`,
  `\ufeff${JSON.stringify(seed)}`,
  '[]',
  'null',
];

describe('the shipped JSON Schema in Python (json-schema/validate.py)', () => {
  it('agrees with parseRaceMessage on hand-picked edge cases', () => {
    const verdicts = pythonVerdicts(EDGES);
    expect(verdicts).toHaveLength(EDGES.length);
    EDGES.forEach((payload, i) => {
      const want = expected(payload);
      if (want === undefined) return;
      expect(verdicts[i]!.split(/[: ]/)[0], `Python's verdict on ${payload}: ${verdicts[i]}`).toBe(want);
    });
  });

  it('agrees with parseRaceMessage on generated valid and mutated messages', () => {
    const payloads = [
      ...fc.sample(raceMessageArb, { numRuns: 400, seed: 7 }),
      ...fc.sample(mutatedMessageArb, { numRuns: 1_600, seed: 11 }),
    ].map((m) => JSON.stringify(m));
    const verdicts = pythonVerdicts(payloads);
    expect(verdicts).toHaveLength(payloads.length);
    let compared = 0;
    payloads.forEach((payload, i) => {
      const want = expected(payload);
      if (want === undefined) return;
      compared++;
      expect(verdicts[i]!.split(/[: ]/)[0], `Python's verdict on ${payload}: ${verdicts[i]}`).toBe(want);
    });
    expect(compared).toBeGreaterThan(1_900);
  });

  it('gives a line that is not UTF-8 its own verdict and goes on with the next', () => {
    const line = (text: string) => Buffer.from(`${text}\n`);
    const badName = Buffer.from(replacing('name', '"Ha@@den"').replace('@@', '\u0000'));
    badName[badName.indexOf(0)] = 0xff; // a byte that is never UTF-8, inside the name
    const input = Buffer.concat([
      line(JSON.stringify(seed)),
      badName,
      Buffer.from('\n'),
      line(JSON.stringify(seed)),
    ]);
    expect(parseRaceMessage(badName)).toMatchObject({ ok: false, error: { code: 'not_utf8' } });
    expect(pythonVerdicts(input)).toEqual(['ok', expect.stringMatching(/^not_utf8: .*byte \d+/), 'ok']);
  });

  it('says where a payload is wrong, as a JSON Pointer', () => {
    const [verdict] = pythonVerdicts([replacing('cadence', '300')]);
    expect(verdict).toMatch(/^invalid at \/cadence: /);
    expect(execFileSync(python, ['--version'], { encoding: 'utf8' })).toMatch(/^Python 3\./);
  });
});
