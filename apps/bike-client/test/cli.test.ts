import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import {
  buildLeaderboardMessages,
  encodeLeaderboard,
  parseRaceMessage,
  planCapacity,
  resultsTopicFor,
} from '@alleycat/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliIo, EXIT, main } from '../src/cli.js';
import { createKinesisClient } from '../src/kinesis-client.js';
import { describeStream, ensureStream } from '../src/kinesis-stream.js';
import { startFaultProxy } from './support/fault-proxy.js';
import {
  type AedesServer,
  PACKAGE_DIR,
  type Server,
  startAedes,
  startKinesalite,
  tempDir,
} from './support/processes.js';

function io(): CliIo & { out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c) => {
    out += c;
  });
  stderr.on('data', (c) => {
    err += c;
  });
  return {
    stdout,
    stderr,
    cwd: tempDir('alleycat-cli-'),
    out: () => out,
    err: () => err,
  };
}

/** Splits a command line on white space (no argument here contains any), so a long one can wrap. */
const argv = (line: string): string[] => line.trim().split(/\s+/);

async function run(args: string[]) {
  const t = io();
  const code = await main(args, t);
  return { code, out: t.out(), err: t.err(), cwd: t.cwd };
}

let kinesalite: Server & { endpoint: string };
let aedes: AedesServer;
beforeAll(async () => {
  [kinesalite, aedes] = await Promise.all([startKinesalite(), startAedes()]);
});
afterAll(async () => {
  await Promise.all([kinesalite?.stop(), aedes?.stop()]);
});

/** The package bin in a child process, with its output collected as it comes. */
function spawnBin(args: string, cwd: string) {
  const child = spawn(process.execPath, [join(PACKAGE_DIR, 'bin/alleycat.mjs'), ...argv(args)], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (chunk: Buffer) => {
    out.stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    out.stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out, exited };
}

/** Resolves once `probe` holds (polled every 100 ms); fails saying what never happened after `timeoutMs`. */
async function until(probe: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000) {
  for (const deadline = Date.now() + timeoutMs; !(await probe()); ) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('alleycat CLI', () => {
  it.each([
    [['simulate', '--bogus'], /^alleycat: Unknown option '--bogus'/],
    [['simulate', '--riders', 'many'], /^alleycat: --riders must be an integer/],
    [['simulate', '--via', 'pigeon'], /^alleycat: --via must be one of kinesis, mqtt/],
    [['simulate', '--via', 'mqtt', '--aggregate'], /^alleycat: --aggregate does not apply to --via mqtt/],
    [['simulate', '--via', 'mqtt', '--riders', '6000'], /exceeds the 5000 one process holds/],
    [['ride', '--class', '2'], /^alleycat: --racer is required/],
    [['capacity', '--riders', '10', '--qos', '1'], /^alleycat: --qos does not apply to "capacity"/],
    [['fly'], /^alleycat: unknown command "fly"/],
    [
      ['ride', '--racer', '7', '--class', '2', '--iot-port', '443'],
      /--iot-port applies to --iot-endpoint only/,
    ],
    [
      ['ride', '--racer', '7', '--class', '2', '--iot-endpoint', 'x', '--cert', '/nope', '--key', '/nope'],
      /--cert: cannot read "\/nope"/,
    ],
    [
      ['ride', '--racer', '7', '--class', '2', '--iot-endpoint', 'x'],
      /--iot-endpoint needs --cert and --key/,
    ],
    // Checked before connecting (the broker here does not exist), naming the flag.
    [
      ['ride', '--racer', '7', '--class', '2', '--name', '', '--mqtt-url', 'mqtt://127.0.0.1:9'],
      /^alleycat: --name: /,
    ],
    [
      ['ride', '--racer', '7', '--class', '2', '--name', 'x'.repeat(70), '--mqtt-url', 'mqtt://127.0.0.1:9'],
      /^alleycat: --name: .*64/,
    ],
    [
      ['simulate', '--first-racer', '9007199254740990', '--riders', '10'],
      /^alleycat: --first-racer must be an integer from 0 to 9007199254740982/,
    ],
    [['simulate', '--kinesis-endpoint', 'notaurl'], /^alleycat: --kinesis-endpoint must be an http\(s\) URL/],
    [
      ['simulate', '--aggregate', '--aggregate-bytes', '64'],
      /^alleycat: --aggregate-bytes must be an integer from 1344/,
    ],
  ])('rejects %j with one line and exit 2', async (args, message) => {
    const { code, err, out } = await run(args);
    expect(code).toBe(EXIT.usage);
    expect(err).toMatch(message);
    expect(err.trim().split('\n')).toHaveLength(1);
    expect(out).toBe('');
  });

  it.each([
    [
      'Kinesis',
      'simulate --seconds 2 --kinesis-endpoint http://127.0.0.1:9',
      /^alleycat: cannot reach http:\/\/127\.0\.0\.1:9: ECONNREFUSED/,
    ],
    [
      'the MQTT broker',
      'simulate --via mqtt --riders 300 --seconds 2 --mqtt-url mqtt://127.0.0.1:9',
      /^alleycat: cannot reach mqtt:\/\/127\.0\.0\.1:9: .*CONNECTION_REFUSED/,
    ],
  ])('says in one line when %s is unreachable, and exits 1', async (_, line, message) => {
    const { code, err } = await run(argv(line));
    expect(code).toBe(EXIT.failure);
    expect(err).toMatch(message);
    expect(err.trim().split('\n')).toHaveLength(1);
  });

  it('names the TLS files when aws-crt cannot use them (not a native stack trace), exit 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'alleycat-tls-'));
    try {
      writeFileSync(join(dir, 'cert.pem'), 'not a certificate\n');
      writeFileSync(join(dir, 'key.pem'), 'not a key\n');
      const { code, err } = await run(
        argv(
          `ride --racer 7 --class 2 --seconds 1 --iot-endpoint localhost --iot-port 9 --cert ${dir}/cert.pem --key ${dir}/key.pem`,
        ),
      );
      expect(code).toBe(EXIT.usage);
      expect(err).toMatch(
        /^alleycat: the TLS files cannot be used \(--cert .*cert\.pem, --key .*key\.pem\): /,
      );
      expect(err.trim().split('\n')).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says in one line when the stream does not exist, and which streams there are', async () => {
    const admin = createKinesisClient({ endpoint: kinesalite.endpoint, maxAttempts: 3 });
    await ensureStream(admin, 'dev-alleycat', 1);
    admin.destroy();
    const { code, err } = await run(
      argv(`simulate --seconds 2 --kinesis-endpoint ${kinesalite.endpoint} --stream nope`),
    );
    expect(code).toBe(EXIT.usage);
    expect(err).toMatch(/stream "nope" not found .* --create-stream/);
    // It names the streams the endpoint has (the tests' kinesalite holds some by now).
    expect(err).toMatch(/; it has .*"dev-alleycat".* \(pass --stream NAME\)/);
  });

  it('prints the capacity plan as a table and as JSON', async () => {
    const plan = planCapacity({ riders: 40_000 });
    const table = await run(['capacity', '--riders', '40000']);
    expect(table.code).toBe(0);
    expect(table.out).toMatch(new RegExp(`shards\\s+${plan.shards}\\s+← records limit binds`));
    const json = await run(['capacity', '--riders', '40000', '--pattern', 'batched', '--json']);
    expect(JSON.parse(json.out)).toEqual(planCapacity({ riders: 40_000, pattern: 'batched' }));
  });

  it('simulates a field into Kinesis (creating the stream) and summarises as JSON', async () => {
    const { code, out, err } = await run(
      argv(`simulate --riders 200 --seconds 5 --classes 3 --speedup 50 --seed 9
            --kinesis-endpoint ${kinesalite.endpoint} --stream cli --create-stream --shards 2 --json`),
    );
    expect(err).toBe('');
    expect(code).toBe(EXIT.ok);
    const summary = JSON.parse(out);
    expect(summary).toMatchObject({
      riders: 200,
      seconds: 5,
      classes: 3,
      messages: 1000,
      delivered: 1000,
      failed: 0,
      undelivered: 0,
    });
    expect(summary.requests).toBeLessThanOrEqual(10);
    expect(summary.raceIds).toHaveLength(3);
  });

  it('writes every undelivered message to a file with its error code, and exits 3', async () => {
    // Racer 3's records are throttled forever.
    const proxy = await startFaultProxy(kinesalite.port, {
      throttleEntry: (entry) => entry.PartitionKey === '3',
    });
    try {
      const { code, out, cwd } = await run(
        argv(`simulate --riders 10 --seconds 4 --speedup 100
              --kinesis-endpoint ${proxy.endpoint} --stream cli-fail --create-stream --max-attempts 2 --json`),
      );
      expect(code).toBe(EXIT.undelivered);
      const summary = JSON.parse(out);
      expect(summary).toMatchObject({ messages: 40, delivered: 36, failed: 4, undelivered: 4 });
      const files = readdirSync(cwd).filter((f) => f.startsWith('alleycat-undelivered-'));
      expect(files).toHaveLength(1);
      expect(summary.undeliveredFile).toBe(join(cwd, files[0]!));
      const lines = readFileSync(summary.undeliveredFile, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines.map((l) => l.message.second).sort()).toEqual([0, 1, 2, 3]);
      for (const line of lines) {
        expect(line).toMatchObject({ errorCode: 'ProvisionedThroughputExceededException', attempts: 2 });
        expect(line.message.racerId).toBe(3);
        expect(parseRaceMessage(JSON.stringify(line.message)).ok).toBe(true);
      }
    } finally {
      await proxy.close();
    }
  });

  it('simulates through MQTT, one connection per bike, at QoS 1', async () => {
    const before = aedes.received.length;
    const { code, out } = await run(
      argv(`simulate --via mqtt --riders 30 --seconds 3 --speedup 20 --qos 1
            --mqtt-url mqtt://127.0.0.1:${aedes.port} --json`),
    );
    expect(code).toBe(EXIT.ok);
    expect(JSON.parse(out)).toMatchObject({ messages: 90, delivered: 90, failed: 0 });
    const got = aedes.received.slice(before).map((p) => parseRaceMessage(p));
    expect(got.filter((r) => r.ok)).toHaveLength(90);
    expect(new Set([...aedes.publishers].filter((id) => id.startsWith('racer-'))).size).toBe(30);
  });

  it('rides one bike and reports its own stats', async () => {
    const { code, out } = await run(
      argv(`ride --racer 7 --class 2 --seconds 3 --speedup 20 --qos 1
            --mqtt-url mqtt://127.0.0.1:${aedes.port} --json`),
    );
    expect(code).toBe(EXIT.ok);
    expect(JSON.parse(out)).toMatchObject({
      racerId: 7,
      classId: 2,
      clientId: 'racer-7',
      published: 3,
      delivered: 3,
      dropped: 0,
    });
  });

  it('rides live, printing each second and the standing from the results topic', async () => {
    const board = buildLeaderboardMessages({
      raceId: 123,
      classId: 2,
      second: 1,
      publishedAt: Date.now(),
      closed: false,
      scores: [
        { racerId: 7, current: 150, total: 300, max: 160 },
        { racerId: 8, current: 170, total: 340, max: 170 },
        { racerId: 9, current: 100, total: 200, max: 120 },
      ],
    });
    const timer = setInterval(() => aedes.send(resultsTopicFor(2), encodeLeaderboard(board[0]!)), 200);
    try {
      const { code, out } = await run(
        argv(`ride --racer 7 --class 2 --race-id 123 --seconds 6 --speedup 4
              --mqtt-url mqtt://127.0.0.1:${aedes.port}`),
      );
      expect(code).toBe(EXIT.ok);
      const lines = out.trim().split('\n');
      expect(lines[0]).toMatch(/^racer-7 riding race 123 \(class 2\)/);
      expect(lines.filter((l) => /^\s+\d+s\s+[\d.]+ rpm/.test(l))).toHaveLength(6);
      expect(out).toMatch(/rank 2\/3 {2}total 300\.0 {2}leader 340\.0/);
      expect(lines.at(-1)).toMatch(/^published 6, delivered 6, resent 0, dropped 0$/);
    } finally {
      clearInterval(timer);
    }
  });

  it('ends on SIGTERM as on Ctrl-C: the run stops, what was built is flushed, the report comes', async () => {
    const { child, out, exited } = spawnBin(
      `simulate --riders 50 --seconds 60 --json --create-stream --stream sigterm --kinesis-endpoint ${kinesalite.endpoint}`,
      PACKAGE_DIR,
    );
    // Running once its stream exists (it creates it first), whatever the machine's start-up time.
    const admin = createKinesisClient({ endpoint: kinesalite.endpoint, maxAttempts: 3 });
    try {
      await until(
        () =>
          describeStream(admin, 'sigterm').then(
            () => true,
            () => false,
          ),
        'the simulator created its stream',
      );
    } finally {
      admin.destroy();
    }
    await new Promise((r) => setTimeout(r, 1_500));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const report = JSON.parse(out.stdout) as { interrupted: boolean; delivered: number; undelivered: number };
    expect(report.interrupted).toBe(true);
    expect(report.delivered).toBeGreaterThan(0);
    expect(report.undelivered).toBe(0);
  });

  it('acknowledges a second SIGTERM while it flushes, and still writes the report and the undelivered file', async () => {
    // Every entry throttled: the flush after the first signal retries for a while (--max-attempts 6).
    const proxy = await startFaultProxy(kinesalite.port, { throttleEntry: () => true });
    const dir = mkdtempSync(join(tmpdir(), 'alleycat-sigterm2-'));
    try {
      const { child, out, exited } = spawnBin(
        `simulate --riders 20 --seconds 60 --json --create-stream --stream sigterm2 --max-attempts 6 --kinesis-endpoint ${proxy.endpoint}`,
        dir,
      );
      await until(() => proxy.calls > 0, 'the simulator sent a record');
      child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 150));
      child.kill('SIGTERM');
      expect(await exited).toBe(EXIT.undelivered);
      expect(out.stderr).toMatch(
        /finishing — delivering or recording what was already built; the report follows/,
      );
      const report = JSON.parse(out.stdout) as {
        interrupted: boolean;
        messages: number;
        undelivered: number;
      };
      expect(report.interrupted).toBe(true);
      expect(report.undelivered).toBe(report.messages);
      expect(readdirSync(dir).filter((f) => f.startsWith('alleycat-undelivered-'))).toHaveLength(1);
    } finally {
      await proxy.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs as the package bin', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['bin/alleycat.mjs', 'capacity', '--riders', '1000', '--json'],
      {
        cwd: PACKAGE_DIR,
      },
    );
    expect(JSON.parse(stdout).shards).toBe(planCapacity({ riders: 1000 }).shards);
    const failed = await promisify(execFile)(
      process.execPath,
      ['bin/alleycat.mjs', 'simulate', '--riders', '0'],
      {
        cwd: PACKAGE_DIR,
      },
    ).catch((e) => e as { code: number; stderr: string });
    expect(failed).toMatchObject({ code: 2 });
    expect((failed as { stderr: string }).stderr).toMatch(/^alleycat: --riders must be an integer from 1/);
  });
});
