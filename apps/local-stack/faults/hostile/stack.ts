/**
 * A whole local stack for the hostile-input tests (`startStack` from the synthesized fixture, free ports, the
 * real Lambda bundle), with what those tests read back from it: whether every part is still the process it
 * started as, the parts' counters, and every inspection file the pipeline wrote (the Lambda's `invalid/`
 * reports, the rule's error-action files, the rule's SQL-error log), normalised to one shape.
 */
import { access, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  INVALID_RECORDS_PREFIX,
  type InvalidRecordReport,
  LAMBDA_BUNDLE,
  RULE_ERRORS_PREFIX,
  STATE_TABLE,
} from '@alleycat/schema';
import { parseEmfLine } from '../../src/race/emf.js';
import { loadStackConfig } from '../../src/stack-config.js';
import { type RunningPart, type RunningStack, startStack } from '../../src/supervisor.js';

const REPO = path.join(import.meta.dirname, '..', '..', '..', '..');
const BUNDLE = path.join(REPO, 'apps', 'ingest-lambda', LAMBDA_BUNDLE.directory, LAMBDA_BUNDLE.file);
const FIXTURE = path.join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'cdk.tf.json');
const FREE = { mqtt: 0, mqttWs: 0, kinesis: 0, kinesalite: 0, dynamodb: 0, iotData: 0 };
/** The stream the fixture's stack defines. */
export const STREAM = 'dev-alleycat';

/** Where an inspection file was found: the three places a refused payload can land with its reason. */
export type InspectionPlace = 'invalid' | 'error-action' | 'rule-log';

/** One inspection file, normalised: the bytes it holds and why they were refused. */
export interface Inspected {
  place: InspectionPlace;
  file: string;
  /**
   * The bytes as the file records them: for `invalid` the Kinesis record's data (over MQTT: the rule's output,
   * i.e. the payload plus `clientId`), for the rule's files the original MQTT payload.
   */
  payload: Buffer;
  /** `invalid`: the schema's code (`not_json`, `identity_mismatch`, …); the rule's files: `sql` / `action`. */
  code: string;
  reason: string;
  clientId?: string;
}

export interface HostileStack {
  stack: RunningStack;
  dir: string;
  /** Lines the parts wrote (EMF metric lines left out), for failure messages. */
  log: string[];
  /** The race-state table, as synthesized (`{env}-alleycat-state`). */
  stateTable: string;
  /** The pid each part had when the stack came up. */
  pids: ReadonlyMap<string, number>;
  part(name: RunningPart['name']): RunningPart;
  /** Parts that are no longer the live process they started as: `name (pid): why`. */
  dead(): string[];
  stats(name: RunningPart['name']): Promise<Record<string, number>>;
  /** Every inspection file now on disk. */
  inspection(): Promise<Inspected[]>;
  close(): Promise<void>;
}

/** How often the stack's scheduled rules (the Lambda's sweep) fire in the hostile-input runs. */
export const HOSTILE_SWEEP_INTERVAL_MS = 2_000;

export async function startHostileStack(): Promise<HostileStack> {
  await access(BUNDLE).catch(() => {
    throw new Error(`${BUNDLE} is missing: run \`pnpm --filter "@alleycat/ingest-lambda..." build\` first`);
  });
  const dir = await mkdtemp(path.join(tmpdir(), 'alleycat-hostile-'));
  const config = await loadStackConfig(FIXTURE, STREAM);
  const log: string[] = [];
  let stack: RunningStack;
  try {
    stack = await startStack({
      config,
      ports: FREE,
      dataDir: dir,
      bundle: BUNDLE,
      // The synthesized sweep runs every minute; here every 2 s, so that a campaign's last rounds (racers who
      // stop without `final`) are published within its settle wait rather than a minute later.
      scheduleIntervalMs: HOSTILE_SWEEP_INTERVAL_MS,
      onOutput: (line, part) => {
        if (parseEmfLine(line) === undefined && log.length < 20_000) log.push(`[${part.label}] ${line}`);
      },
    });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const running = stack.supervisor.running();
  const pids = new Map(running.map((p) => [p.name, p.pid]));
  const part = (name: RunningPart['name']) => {
    const found = stack.supervisor.running().find((p) => p.name === name);
    if (!found) throw new Error(`no running part ${name}`);
    return found;
  };
  /**
   * Inspection files already read, by path. A campaign polls every 250 ms while it settles, and a run leaves
   * thousands of files (some of a MiB): reading them all again each time made the harness the busiest process
   * on the machine, slowing the stack a little more every campaign. The pipeline writes each file once, under
   * a name of its own (a retry rewrites the same bytes), so a file read whole is not read again.
   */
  const inspected = new Map<string, Inspected>();
  return {
    stack,
    dir,
    log,
    stateTable: config.tables.find((t) => t.name.endsWith(STATE_TABLE.name))?.name ?? STATE_TABLE.name,
    pids,
    part,
    dead() {
      const dead: string[] = [];
      for (const [name, pid] of pids) {
        const now = stack.supervisor.running().find((p) => p.name === name);
        if (now === undefined) dead.push(`${name} (${pid}): no longer running`);
        else if (now.pid !== pid) dead.push(`${name} (${pid}): replaced by ${now.pid}`);
        else if (now.child.exitCode !== null || now.child.signalCode !== null)
          dead.push(`${name} (${pid}): exited (${now.child.exitCode ?? now.child.signalCode})`);
        else if (!isAlive(pid)) dead.push(`${name} (${pid}): no such process`);
      }
      return dead;
    },
    stats: (name) => stack.supervisor.stats(part(name)),
    inspection: () => readInspection(stack, inspected),
    async close() {
      await stack.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.json'))
    .map((e) => path.join(e.parentPath, e.name));
}

/** A file may be mid-write when read: such a file is skipped this time and read on the next poll. */
async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

async function readInspection(stack: RunningStack, known: Map<string, Inspected>): Promise<Inspected[]> {
  const found: Inspected[] = [];
  const { errorsBucket, ruleLogs } = stack.dirs;
  const unread = (files: string[]) =>
    files.filter((file) => {
      const seen = known.get(file);
      if (seen !== undefined) found.push(seen);
      return seen === undefined;
    });
  for (const file of unread(await filesUnder(path.join(errorsBucket, INVALID_RECORDS_PREFIX)))) {
    const report = await readJson<InvalidRecordReport>(file);
    if (report === undefined) continue;
    found.push({
      place: 'invalid',
      file,
      payload: Buffer.from(report.dataBase64, 'base64'),
      code: report.reason.code,
      reason: `${report.reason.code} at ${report.reason.path || '(root)'}: ${report.reason.message}`,
    });
  }
  for (const file of unread(await filesUnder(path.join(errorsBucket, RULE_ERRORS_PREFIX)))) {
    const report = await readJson<{
      clientId: string;
      base64OriginalPayload: string;
      failures: Array<{ errorMessage: string }>;
    }>(file);
    if (report === undefined) continue;
    found.push({
      place: 'error-action',
      file,
      payload: Buffer.from(report.base64OriginalPayload, 'base64'),
      code: 'action',
      reason: report.failures.map((f) => f.errorMessage).join('; '),
      clientId: report.clientId,
    });
  }
  for (const file of unread(await filesUnder(ruleLogs))) {
    const entry = await readJson<{ clientId?: string; reason: string; base64OriginalPayload: string }>(file);
    if (entry === undefined) continue;
    const inspected: Inspected = {
      place: 'rule-log',
      file,
      payload: Buffer.from(entry.base64OriginalPayload, 'base64'),
      code: 'sql',
      reason: entry.reason,
    };
    if (entry.clientId !== undefined) inspected.clientId = entry.clientId;
    found.push(inspected);
  }
  for (const f of found) if (!known.has(f.file)) known.set(f.file, f);
  return found;
}
