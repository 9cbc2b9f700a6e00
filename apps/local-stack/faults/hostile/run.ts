/**
 * One fuzz campaign against a running stack: build the inputs, judge each with the oracle, send them
 * (interleaved, paced), wait until the pipeline has handled everything, then compare — input by input — what
 * it did with what the contract says: valid seconds on the boards exactly once, every refused input in the
 * inspection place its verdict names (with a reason), nothing else anywhere.
 */
import { KIB, Prng } from '@alleycat/schema';
import type { BoardWatch } from './boards.js';
import { buildHostile, buildRaces, type Campaign, type Input, type RunIds } from './inputs.js';
import { type ExpectedScores, fateOverKinesis, fateOverMqtt, type Outcome, TAG_FIELD } from './oracle.js';
import { describeLiveItem, describeRaceState } from './race-state.js';
import type { KinesisEntry, KinesisProducer, MqttFleet } from './senders.js';
import { Pacer } from './senders.js';
import type { HostileStack, Inspected, InspectionPlace } from './stack.js';

export interface Judged {
  input: Input;
  outcomes: Outcome[];
}

export interface RunReport {
  inputs: number;
  /** `kind via` → inputs sent. */
  byKind: Map<string, number>;
  /** Fate → outcomes expected (a KPL aggregate has one per user record). */
  byFate: Map<string, number>;
  /** Everything that differs from the verdicts; empty when the pipeline did what it must. */
  problems: string[];
  sendMs: number;
  /** Of `sendMs`: the paced interleaved phase, the broker refusals, the big Kinesis records. */
  phasesMs: [number, number, number];
  /** Bytes of phase 1 that reached the stream (what the pacer spent). */
  pacedBytes: number;
  /** PUBACK latency of the MQTT publishes: p50 and max (ms). */
  pubackMs: [number, number];
  settleMs: number;
  /**
   * When, from the settle's start, each thing it waits for was first seen done (ms; -1: never): every record
   * written processed, every inspection file there, every board right. Says which one a slow settle waited for.
   */
  settledMs: { records: number; files: number; boards: number };
  /** The Lambda's shared live item after the run (its size is what every invocation reads and writes). */
  liveItem: { bytes: number; races: number; markers: number; ownUntil: number } | undefined;
}

export interface RunContext {
  hostile: HostileStack;
  fleet: MqttFleet;
  producer: KinesisProducer;
  watch: BoardWatch;
  /** Totals expected across every run so far (boards of earlier runs must stay as they were). */
  expected: ExpectedScores;
  /** Inspection files already accounted for by earlier runs. */
  seenFiles: Set<string>;
  settleTimeoutMs: number;
  /** Publishes that get no PUBACK within this long are reported (and their connection dropped). */
  publishTimeoutMs: number;
}

const show = (b: Buffer) => {
  const text = b.toString('utf8');
  return JSON.stringify(text.length > 160 ? `${text.slice(0, 160)}…(${b.byteLength} bytes)` : text);
};

export function judge(input: Input): Judged {
  const outcomes =
    input.via === 'mqtt'
      ? fateOverMqtt(input.payload, input.clientId!, input.qos ?? 1)
      : fateOverKinesis(input.payload);
  return { input, outcomes };
}

/** Valid and hostile inputs in one order, seeded by the campaign (so a failing case replays). */
export function buildInputs(c: Campaign, ids: RunIds): Judged[] {
  const valid = buildRaces(c.races, ids).inputs;
  const hostile = c.hostile.map((spec, i) => buildHostile(spec, i, ids, c));
  const all = [...valid, ...hostile];
  const prng = new Prng(c.order);
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(prng.next() * (i + 1));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all.map(judge);
}

const reachesStream = (j: Judged) => j.outcomes.some((o) => o.fate === 'scored' || o.fate === 'invalid');

type Stats = Record<string, number>;
const delta = (after: Stats, before: Stats, key: string) => (after[key] ?? 0) - (before[key] ?? 0);

export async function runCampaign(ctx: RunContext, judged: Judged[]): Promise<RunReport> {
  const { hostile, fleet, producer, watch, expected } = ctx;
  const problems: string[] = [];
  const byKind = new Map<string, number>();
  const byFate = new Map<string, number>();
  for (const { input, outcomes } of judged) {
    const kind = `${input.kind} ${input.via}`;
    byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
    for (const o of outcomes) {
      byFate.set(o.fate, (byFate.get(o.fate) ?? 0) + 1);
      if (o.fate === 'scored') for (const m of o.messages) expected.add(m);
    }
  }
  const brokerBefore = await hostile.stats('broker');
  const pollerBefore = await hostile.stats('event-source-mapping');
  const acceptedBefore = producer.counters.accepted;
  /** Records this run has written to the stream: the rule's deliveries and the producer's accepted puts. */
  const writtenSince = (brokerNow: Stats) =>
    delta(brokerNow, brokerBefore, 'delivered') + (producer.counters.accepted - acceptedBefore);

  // Phase 1: everything but the Kinesis records over 64 KiB, interleaved and paced.
  const started = Date.now();
  const pacer = new Pacer(384 * KIB, 600);
  const inFlight = new Set<Promise<void>>();
  let kinesisBuffer: KinesisEntry[] = [];
  const flush = () => {
    if (kinesisBuffer.length === 0) return;
    const batch = kinesisBuffer;
    kinesisBuffer = [];
    track(
      producer
        .putAll(batch)
        .catch((error: Error) => void problems.push(`Kinesis producer: ${error.message}`)),
    );
  };
  const track = (p: Promise<void>) => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };
  const later: Judged[] = [];
  let pacedBytes = 0;
  const pubacks: number[] = [];
  const refusedAtBroker: Judged[] = [];
  for (const j of judged) {
    const { input } = j;
    if (input.via === 'kinesis' && (input.big || j.outcomes[0]!.fate === 'refused-kinesis')) {
      later.push(j);
      continue;
    }
    if (j.outcomes[0]!.fate === 'refused-broker') {
      refusedAtBroker.push(j);
      continue;
    }
    if (reachesStream(j)) {
      await pacer.take(input.payload.byteLength);
      pacedBytes += input.payload.byteLength;
    }
    if (input.via === 'mqtt') {
      const sentAt = Date.now();
      track(
        fleet
          .publish(input.clientId!, input.payload, input.qos === 0 ? 0 : 1, ctx.publishTimeoutMs)
          .then((r) => {
            pubacks.push(Date.now() - sentAt);
            if (!r.ok)
              problems.push(
                `MQTT ${input.kind} from ${input.clientId}: ${r.why}; payload ${show(input.payload)}`,
              );
          }),
      );
    } else {
      kinesisBuffer.push({ data: input.payload, partitionKey: input.partitionKey! });
      if (kinesisBuffer.length >= 100) flush();
    }
    // Enough to keep every part busy; more only queues at the broker (one connection's publishes are handled
    // one after another) and measures the test's own burst as PUBACK latency.
    while (inFlight.size >= 64) await Promise.race(inFlight);
  }
  flush();
  await Promise.all(inFlight);

  const phase1Ms = Date.now() - started;
  // What the broker must refuse, each on a connection of its own (the broker closes it).
  for (const j of refusedAtBroker) {
    const closed = await fleet.publishRefused(j.input.payload, j.input.qos ?? 1, 5_000);
    if (!closed)
      problems.push(
        `${j.input.kind} (${j.input.payload.byteLength} bytes, QoS ${j.input.qos}): the broker kept the connection`,
      );
  }
  const refusedMs = Date.now() - started - phase1Ms;
  // Phase 2: big Kinesis records (throttling here is retried by the producer, so it cannot cost a valid message).
  let refusedByKinesis = 0;
  for (const j of later) {
    const entry = { data: j.input.payload, partitionKey: j.input.partitionKey! };
    if (j.outcomes[0]!.fate === 'refused-kinesis') {
      const error = await producer.putRefused(entry);
      if (error === undefined)
        problems.push(`Kinesis accepted a ${entry.data.byteLength}-byte record (over 1 MiB)`);
      else if (!/1 ?MiB|1048576|length|size|Validation|InvalidArgument/i.test(error))
        problems.push(`Kinesis refused a ${entry.data.byteLength}-byte record without saying why: ${error}`);
      else refusedByKinesis += 1;
    } else {
      await producer
        .putAll([entry])
        .catch((error: Error) => void problems.push(`Kinesis producer: ${error.message}`));
    }
  }
  const sendMs = Date.now() - started;
  const phasesMs: [number, number, number] = [phase1Ms, refusedMs, sendMs - phase1Ms - refusedMs];

  // Wait until the Lambda has seen every record this run wrote, and the boards and files show it.
  const expectedFiles = (place: InspectionPlace) =>
    judged.reduce((n, j) => n + j.outcomes.filter((o) => o.fate === place).length, 0);
  const settleStart = Date.now();
  const settledMs = { records: -1, files: -1, boards: -1 };
  const settled = (what: keyof typeof settledMs, done: boolean) => {
    if (done && settledMs[what] < 0) settledMs[what] = Date.now() - settleStart;
    return done;
  };
  let brokerAfter = brokerBefore;
  let newFiles: Inspected[] = [];
  for (;;) {
    brokerAfter = await hostile.stats('broker');
    const pollerNow = await hostile.stats('event-source-mapping');
    const written = writtenSince(brokerAfter);
    newFiles = (await hostile.inspection()).filter((f) => !ctx.seenFiles.has(f.file));
    const counts = (place: InspectionPlace) => newFiles.filter((f) => f.place === place).length;
    const records = settled('records', delta(pollerNow, pollerBefore, 'recordsSucceeded') >= written);
    const files = settled(
      'files',
      (['invalid', 'rule-log', 'error-action'] as const).every((p) => counts(p) >= expectedFiles(p)),
    );
    const boards = settled('boards', boardProblems(watch, expected).length === 0);
    if ((records && files && boards) || Date.now() - settleStart > ctx.settleTimeoutMs) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  // One more publish interval: a board that is about to show something it must not is caught.
  await new Promise((r) => setTimeout(r, 1_200));
  newFiles = (await hostile.inspection()).filter((f) => !ctx.seenFiles.has(f.file));
  const settleMs = Date.now() - settleStart;
  brokerAfter = await hostile.stats('broker');
  const pollerAfter = await hostile.stats('event-source-mapping');

  // Every record this run wrote to the stream must have gone through a successful invocation.
  const writtenRecords = writtenSince(brokerAfter);
  const processed = delta(pollerAfter, pollerBefore, 'recordsSucceeded');
  if (processed < writtenRecords) {
    problems.push(
      `the Lambda processed ${processed} of the ${writtenRecords} records this run wrote to the stream (poller: ${JSON.stringify(pollerAfter)})`,
    );
  }
  const wrongBoards = boardProblems(watch, expected);
  problems.push(...wrongBoards);
  if (wrongBoards.length > 0) {
    // Say whether the stored state has what the boards lack (a publish never made or never received) or not.
    const races = [...new Set(wrongBoards.map((p) => Number(/^race (\d+)/.exec(p)?.[1])))].filter(
      Number.isFinite,
    );
    const state = await describeRaceState(
      hostile.stack.endpoints.dynamodb,
      hostile.stateTable,
      races.slice(0, 20),
    );
    problems.push(...state.map((line) => `  stored: ${line}`));
  }
  problems.push(...matchFiles(judged, newFiles));
  for (const f of newFiles) {
    ctx.seenFiles.add(f.file);
    if (f.reason.trim() === '') problems.push(`${f.place} file ${f.file} gives no reason`);
  }

  const refusedBroker = judged.filter((j) => j.outcomes[0]!.fate === 'refused-broker').length;
  const brokerRefusals =
    delta(brokerAfter, brokerBefore, 'refusedTooLarge') + delta(brokerAfter, brokerBefore, 'refusedQos2');
  if (brokerRefusals !== refusedBroker)
    problems.push(`the broker counted ${brokerRefusals} refused publishes; ${refusedBroker} were sent`);
  const refusedKinesis = judged.filter((j) => j.outcomes[0]!.fate === 'refused-kinesis').length;
  if (refusedByKinesis !== refusedKinesis)
    problems.push(
      `Kinesis refused ${refusedByKinesis} records over 1 MiB with a reason; ${refusedKinesis} were sent`,
    );
  // The rule's own counters agree with its files: each logged or error-actioned message counted once.
  for (const [key, place] of [
    ['sqlErrors', 'rule-log'],
    ['errorActions', 'error-action'],
  ] as const) {
    const n = delta(brokerAfter, brokerBefore, key);
    if (n !== expectedFiles(place))
      problems.push(`the rule counted ${n} ${key}; ${expectedFiles(place)} expected`);
  }
  for (const [key, what] of [
    ['throttled', 'MQTT messages throttled into the error action (the test paces to avoid it)'],
    ['errorActionFailures', 'messages the error action could not store'],
  ] as const) {
    const n = delta(brokerAfter, brokerBefore, key);
    if (n !== 0) problems.push(`${n} ${what}`);
  }
  for (const [key, what] of [
    ['recordsDiscarded', 'records sent to the on-failure destination (DLQ)'],
    ['failedInvocations', 'failed Lambda invocations (a hostile record made the handler fail)'],
  ] as const) {
    const n = delta(pollerAfter, pollerBefore, key);
    if (n !== 0) problems.push(`${n} ${what}`);
  }
  if (watch.unreadable > 0) problems.push(`${watch.unreadable} board messages did not parse`);
  const dead = hostile.dead();
  if (dead.length > 0) problems.push(`stack parts crashed: ${dead.join('; ')}`);

  pubacks.sort((a, b) => a - b);
  const pubackMs: [number, number] = [pubacks[Math.floor(pubacks.length / 2)] ?? 0, pubacks.at(-1) ?? 0];
  return {
    inputs: judged.length,
    byKind,
    byFate,
    problems,
    sendMs,
    phasesMs,
    pacedBytes,
    pubackMs,
    settleMs,
    settledMs,
    liveItem: await describeLiveItem(hostile.stack.endpoints.dynamodb, hostile.stateTable).catch(
      () => undefined,
    ),
  };
}

/** Races whose board differs from the expected totals, and boards of races nothing valid was sent to. */
export function boardProblems(
  watch: BoardWatch,
  expected: ExpectedScores,
  /** Only these races (a test sharing the stack with others); default: every board seen. */
  only?: ReadonlySet<number>,
): string[] {
  const problems: string[] = [];
  const within = <V>(map: Map<number, V>) =>
    only === undefined ? map : new Map([...map].filter(([raceId]) => only.has(raceId)));
  const want = within(expected.totals());
  const seen = within(watch.totals());
  for (const [raceId, racers] of want) {
    const board = seen.get(raceId);
    if (board === undefined) {
      problems.push(`race ${raceId}: no board (expected ${racers.size} racers)`);
      continue;
    }
    for (const [racerId, total] of racers) {
      if (board.get(racerId) !== total)
        problems.push(`race ${raceId} racer ${racerId}: board ${board.get(racerId)}, expected ${total}`);
    }
    for (const [racerId, total] of board)
      if (!racers.has(racerId))
        problems.push(`race ${raceId}: racer ${racerId} scored ${total}, expected nothing`);
  }
  for (const [raceId, board] of seen)
    if (!want.has(raceId))
      problems.push(`race ${raceId}: board with ${board.size} racers, expected no board at all`);
  return problems;
}

const key = (b: Buffer) => b.toString('base64');

function tagIn(payload: Buffer): string | undefined {
  try {
    const json = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
    const tag =
      json !== null && typeof json === 'object' && Object.hasOwn(json, TAG_FIELD)
        ? json[TAG_FIELD]
        : undefined;
    return typeof tag === 'string' ? tag : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Matches inspection files to verdicts one by one: by the exact bytes the file holds, else (records the rule
 * rewrote) by the input's tag. Reports files nothing explains, verdicts no file shows, and wrong codes.
 */
export function matchFiles(judged: Judged[], files: Inspected[]): string[] {
  const problems: string[] = [];
  type Want = { outcome: Outcome; input: Input; matched: boolean };
  const byBytes = new Map<string, Want[]>();
  const byTag = new Map<string, Want[]>();
  const wants: Want[] = [];
  for (const { input, outcomes } of judged) {
    for (const outcome of outcomes) {
      if (outcome.fate !== 'invalid' && outcome.fate !== 'rule-log' && outcome.fate !== 'error-action')
        continue;
      const want: Want = { outcome, input, matched: false };
      wants.push(want);
      const k = `${outcome.fate}:${key(outcome.match)}`;
      byBytes.set(k, [...(byBytes.get(k) ?? []), want]);
      if (outcome.fate === 'invalid' && outcome.tag !== undefined) {
        const t = `invalid:${outcome.tag}`;
        byTag.set(t, [...(byTag.get(t) ?? []), want]);
      }
    }
  }
  const take = (list: Want[] | undefined) => list?.find((w) => !w.matched);
  for (const file of files) {
    let want = take(byBytes.get(`${file.place}:${key(file.payload)}`));
    if (want === undefined && file.place === 'invalid') {
      const tag = tagIn(file.payload);
      if (tag !== undefined) want = take(byTag.get(`invalid:${tag}`));
    }
    if (want === undefined) {
      problems.push(
        `${file.place} file nothing sent explains: ${file.reason}; payload ${show(file.payload)}`,
      );
      continue;
    }
    want.matched = true;
    if (file.place === 'invalid' && want.outcome.fate === 'invalid' && file.code !== want.outcome.code)
      problems.push(
        `${want.input.kind} over ${want.input.via}: code ${file.code}, expected ${want.outcome.code}; payload ${show(file.payload)}`,
      );
  }
  for (const want of wants.filter((w) => !w.matched)) {
    const code = want.outcome.fate === 'invalid' ? ` ${want.outcome.code}` : '';
    problems.push(
      `${want.input.kind} over ${want.input.via}${want.input.clientId ? ` from ${want.input.clientId}` : ''}: no ${want.outcome.fate}${code} file; payload ${show(want.input.payload)}`,
    );
  }
  return problems;
}
