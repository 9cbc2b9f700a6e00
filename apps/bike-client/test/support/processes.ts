/** Child processes for tests: each started here is stopped by its own pid, and at exit if a test forgot. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

export const PACKAGE_DIR = fileURLToPath(new URL('../..', import.meta.url));

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

// Registered from each test file that imports this module (vitest collects hooks at import time).
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
});

/** A temporary directory removed after the test file (or when the process exits). */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

/** Calls `onLine` with each line `child` prints on stdout, in order, without its line break. */
function onStdoutLine(child: ChildProcess, onLine: (line: string) => void): void {
  createInterface({ input: child.stdout!, crlfDelay: Number.POSITIVE_INFINITY }).on('line', onLine);
}

export interface Server {
  child: ChildProcess;
  port: number;
  stop(): Promise<void>;
}

/** Spawns `command` and resolves with the first stdout line (a port) once the process prints it. */
export async function spawnPrintingPort(
  command: string,
  args: string[],
  timeoutMs = 15_000,
  onLine?: (line: string) => void,
): Promise<Server> {
  const child = spawn(command, args, { cwd: PACKAGE_DIR, stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(child);
  let stderr = '';
  child.stderr!.on('data', (chunk) => {
    stderr += chunk;
  });
  const port = await new Promise<number>((resolve, reject) => {
    let first = true;
    const timer = setTimeout(() => reject(new Error(`${command} did not start: ${stderr}`)), timeoutMs);
    onStdoutLine(child, (line) => {
      if (first) {
        first = false;
        clearTimeout(timer);
        resolve(Number(line.trim()));
      } else onLine?.(line);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited with ${code}: ${stderr}`));
    });
  });
  return { child, port, stop: () => stopChild(child) };
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    live.delete(child);
    return;
  }
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
  await exited;
  clearTimeout(timer);
  live.delete(child);
}

/** A TCP port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** Resolves once something accepts TCP connections on `port`. */
export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function startKinesalite(port = 0): Promise<Server & { endpoint: string }> {
  const server = await spawnPrintingPort(process.execPath, [
    'test/support/kinesalite-server.cjs',
    String(port),
  ]);
  return { ...server, endpoint: `http://127.0.0.1:${server.port}` };
}

export interface AedesServer extends Server {
  /** Payloads PUBLISHed to the watched topic, in arrival order (QoS 1 ones logged before their PUBACK). */
  received: string[];
  /** Client ids that published them. */
  publishers: Set<string>;
  /** Makes the broker publish `payload` on `topic` (QoS 0). */
  send(topic: string, payload: string): void;
}

/** aedes in a child process (port 0 = free port; pass the old port to restart "the same" broker). */
export async function startAedes(
  port = 0,
  received: string[] = [],
  publishers = new Set<string>(),
): Promise<AedesServer> {
  const server = await spawnPrintingPort(
    process.execPath,
    ['test/support/aedes-server.mjs', String(port)],
    15_000,
    (line) => {
      const match = /^PUB \d (\S+) (.*)$/.exec(line);
      if (match) {
        publishers.add(match[1]!);
        received.push(match[2]!);
      }
    },
  );
  return {
    ...server,
    received,
    publishers,
    send: (topic, payload) => server.child.stdin!.write(`SEND ${topic} ${payload}\n`),
  };
}

export const MOSQUITTO = process.env.ALLEYCAT_MOSQUITTO ?? '/usr/sbin/mosquitto';

export interface MosquittoServer extends Server {
  dir: string;
  /** The broker's log so far (errors, warnings, notices, connections), for failure messages. */
  log(): string;
}

/**
 * Debian's mosquitto on 127.0.0.1:`port` (a free one by default) with a temporary config. Persistence is on
 * (saved at shutdown, in the temp dir), so a restarted broker keeps a persistent subscriber's session.
 *
 * `user` is the user running the tests: started as root, mosquitto otherwise switches to the `mosquitto`
 * user, which cannot write the persistence file into a root-owned 0700 temp dir. It then logs
 * "Error saving in-memory database … Permission denied", restarts with no sessions, and whatever it
 * acknowledges before a subscriber has subscribed again is delivered to nobody (`user` has no effect
 * when the tests do not run as root). The log goes to stderr (unbuffered) and is kept for messages.
 */
export async function startMosquitto(
  port?: number,
  dir?: string,
  extraConfig: string[] = [],
): Promise<MosquittoServer> {
  const listenPort = port ?? (await freePort());
  const folder = dir ?? tempDir('alleycat-mosquitto-');
  const config = join(folder, 'mosquitto.conf');
  writeFileSync(
    config,
    [
      `listener ${listenPort} 127.0.0.1`,
      ...extraConfig,
      'allow_anonymous true',
      `user ${userInfo().username}`,
      'persistence true',
      `persistence_location ${folder}/`,
      'max_queued_messages 100000',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      'log_type information',
      '',
    ].join('\n'),
  );
  const child = spawn(MOSQUITTO, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(child);
  let log = '';
  // Read it all (a full pipe would block the broker); keep the last 64 KiB.
  child.stderr!.on('data', (chunk) => {
    log = (log + chunk).slice(-65_536);
  });
  await waitForPort(listenPort);
  return { child, port: listenPort, dir: folder, log: () => log, stop: () => stopChild(child) };
}

/**
 * `mosquitto_sub` with a persistent QoS 1 session (`-c`, fixed client id) on `topic`: collects payload lines.
 * When the broker goes away it reconnects by itself (libmosquitto, 1 s) and subscribes again.
 */
export async function startMosquittoSub(port: number, topic: string, received: string[]) {
  const child = spawn(
    'mosquitto_sub',
    ['-h', '127.0.0.1', '-p', String(port), '-t', topic, '-q', '1', '-c', '-i', 'alleycat-test-sub'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  live.add(child);
  // PROBE lines (from `mosquitto_pub` below, to learn when the subscription is live) are not collected: a
  // second probe sent while the first was still on its way would otherwise arrive among the messages.
  let probed = false;
  onStdoutLine(child, (line) => {
    if (line === 'PROBE') probed = true;
    else received.push(line);
  });
  const deadline = Date.now() + 10_000;
  while (!probed) {
    if (Date.now() > deadline) throw new Error('mosquitto_sub did not subscribe');
    spawn('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-t', topic, '-q', '1', '-m', 'PROBE']);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    child,
    /** Freezes the subscriber (SIGSTOP): it reads nothing and cannot reconnect until `resume()`. */
    pause: () => child.kill('SIGSTOP'),
    resume: () => child.kill('SIGCONT'),
    stop: () => {
      child.kill('SIGCONT');
      return stopChild(child);
    },
  };
}
