/**
 * Fault: the MQTT broker (aedes, with the rules engine in its publish path) killed with SIGKILL mid-race and
 * started again on its port, with real bikes (`alleycat simulate --via mqtt`, aws-iot-device-sdk-v2, one
 * connection per rider). Bikes reconnect on their own; the IoT data plane and the board watcher too.
 *
 * - QoS 1: the broker acknowledges a publish only after the rule's Kinesis action (or its error action) took
 *   it, so nothing acknowledged may be missing: every message the simulator did not report undelivered is in
 *   the stream or in the error action's files. Unacknowledged ones are resent (duplicates count once).
 * - QoS 0: at most once. The loss is measured — the messages written to the socket and found nowhere — and
 *   printed; the boards must be short of what was sent by exactly those messages, and nothing sent after the
 *   broker was back may be lost.
 */
import path from 'node:path';
import { expect, it } from 'vitest';
import {
  discardedBatches,
  errorActionMessages,
  pollerStats,
  readRecords,
  readUnsent,
  unsentKey,
} from './checks.js';
import { useFaultRun } from './harness.js';
import {
  builtKeys,
  distinctSeconds,
  fieldArgs,
  mismatches,
  partCounterAtLeast,
  scheduledAt,
  settledBoards,
  simulate,
  totalsOf,
} from './race.js';

const FIELD = { riders: 60, seconds: 20, classes: 3, firstRacer: 1 };
const SPEEDUP = 2;

const run = useFaultRun();
const built = (f: typeof FIELD) => f.riders * f.seconds;

for (const qos of [1, 0] as const) {
  it(`MQTT broker killed and restarted mid-race, QoS ${qos} bikes: ${qos === 1 ? 'nothing acknowledged is lost, resends count once' : 'the loss is measured and exactly explains the boards'}`, async () => {
    const started = Date.now();
    const { fault, watcher } = await run.startStack();
    const unsentFile = path.join(fault.dir, 'unsent.ndjson');
    const sim = simulate(fault, fieldArgs(FIELD, 80 + qos, SPEEDUP), unsentFile, { kind: 'mqtt', qos });
    run.sims.push(sim);

    // The race runs 10 s of wall time once the bikes are connected: kill when a third of it went through.
    await partCounterAtLeast(fault, 'broker', 'delivered', built(FIELD) / 3);
    const victim = await fault.kill('broker');
    const killedAt = Date.now();
    run.note('broker killed');
    await new Promise((r) => setTimeout(r, 2_000));
    await fault.revive(victim);
    const revivedAt = Date.now();
    run.note(`broker back after ${revivedAt - killedAt} ms`);

    const { summary, code } = await sim.done;
    run.note(`simulator exited ${code}: ${JSON.stringify(summary)}`);
    const unsent = await readUnsent(unsentFile);
    const unsentKeys = new Set(unsent.map(unsentKey));
    const builtSet = builtKeys(summary, FIELD);
    const records = await readRecords(fault);
    const streamMessages = records.flatMap((r) => r.messages);
    const inStream = distinctSeconds(streamMessages, summary.raceIds);
    const inErrorAction = distinctSeconds(await errorActionMessages(fault), summary.raceIds);
    const found = new Map([...inErrorAction, ...inStream]);
    const sent = [...builtSet].filter((k) => !unsentKeys.has(k));
    const lost = sent.filter((k) => !found.has(k));
    const lostScheduled = lost.map((k) => {
      const [raceId, racerId, second] = k.split(':').map(Number) as [number, number, number];
      const anyOfRace = [...inStream.values()].find((m) => m.raceId === raceId)!;
      return scheduledAt(
        {
          ...anyOfRace,
          racerId,
          second,
          deviceTimestamp: anyOfRace.deviceTimestamp + (second - anyOfRace.second) * 1000,
        },
        SPEEDUP,
      );
    });
    const expected = totalsOf(inStream);
    const wrong = await settledBoards(watcher.boards, summary.raceIds, expected, 30_000);
    run.note('boards settled (or the wait ran out)');
    const broker = await fault.stack.supervisor.stats(fault.part('broker'));
    const stats = await pollerStats(fault);
    const discarded = await discardedBatches(fault);
    const duplicates =
      streamMessages.filter((m) => summary.raceIds.includes(m.raceId)).length - inStream.size;
    console.info(
      `[fault broker, QoS ${qos}] down ${revivedAt - killedAt} ms; simulator exit ${code}: ${summary.messages} built, ${summary.delivered} ${qos === 1 ? 'acknowledged' : 'written to the socket'}, ${summary.retried} resent, ${unsent.length} undelivered; stream: ${inStream.size} distinct seconds, ${duplicates} duplicates; error action: ${inErrorAction.size}; LOST ${lost.length} (${((100 * lost.length) / Math.max(1, sent.length)).toFixed(2)} % of sent)${lost.length ? `, scheduled ${Math.round(Math.min(...lostScheduled) - killedAt)}…${Math.round(Math.max(...lostScheduled) - killedAt)} ms from the kill` : ''}; racers off the stream's totals ${wrong.length}; restarted broker ${JSON.stringify(broker)}; poller ${JSON.stringify(stats)}; DLQ files ${discarded.length}; ${Math.round((Date.now() - started) / 1000)} s`,
    );

    expect(summary.messages).toBe(builtSet.size);
    expect(summary.delivered + summary.failed).toBe(summary.messages);
    // Nothing in the stream that was not built (the accounting is over the right set).
    expect([...inStream.keys()].filter((k) => !builtSet.has(k))).toEqual([]);
    // The boards count every second in the stream exactly once (resent duplicates included).
    expect(wrong.slice(0, 10)).toEqual([]);
    expect(discarded).toEqual([]);
    if (qos === 1) {
      // The bikes' queues held everything through the outage and drained after it.
      expect(unsent.map((u) => `${u.errorCode}: ${u.errorMessage}`).slice(0, 5)).toEqual([]);
      // Nothing acknowledged is lost.
      expect(lost.slice(0, 10)).toEqual([]);
    } else {
      // The loss reported is exactly what was sent and is found nowhere...
      expect(lost.length).toBe(summary.delivered - sent.filter((k) => found.has(k)).length);
      // ...it is exactly what the boards miss of what was sent...
      const sentTotals = totalsOf(new Map(sent.filter((k) => found.has(k)).map((k) => [k, found.get(k)!])));
      expect(mismatches(watcher.boards, summary.raceIds, sentTotals).slice(0, 10)).toEqual([]);
      // ...and it happened around the kill: once the broker is back, QoS 0 loses nothing.
      expect(lostScheduled.filter((t) => t > revivedAt + 1_000).length).toBe(0);
    }
  });
}
