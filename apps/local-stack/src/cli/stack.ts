/**
 * `pnpm stack`: the local services only, on fixed ports (flags to change them), configured from the stack
 * apps/infra synthesized; prints every endpoint and the environment that points SDKs, the AWS CLI and MQTT
 * clients at them; runs until Ctrl-C, then stops every part.
 *
 *   pnpm stack [--stack dev-alleycat] [--no-limits] [--data-dir .local-stack] [--mqtt-port 1883]
 *              [--external-broker mqtt://127.0.0.1:1883] [--schedule-interval-ms 5000] …
 */
import './quiet-sdk-warning.js';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LAMBDA_BUNDLE } from '@alleycat/schema';
import { loadStackConfig } from '../stack-config.js';
import { DEFAULT_PORTS, type Ports, startStack } from '../supervisor.js';
import { parseFlags, portFlag, userPath } from './args.js';
import { findLaunchers, stopWhenLauncherExits } from './launcher-watch.js';

const PACKAGE_DIR = fileURLToPath(new URL('../..', import.meta.url));
const INFRA_OUT = path.join(PACKAGE_DIR, '..', 'infra', 'cdktf.out', 'stacks');
const DEFAULT_BUNDLE = path.join(
  PACKAGE_DIR,
  '..',
  'ingest-lambda',
  LAMBDA_BUNDLE.directory,
  LAMBDA_BUNDLE.file,
);

const USAGE =
  `pnpm stack [--stack NAME | --stack-file cdk.tf.json] [--bundle index.mjs] [--data-dir DIR] [--no-limits] [--external-broker mqtt://HOST:PORT]\n` +
  `           [--schedule-interval-ms MS (fire scheduled rules this often instead of their rate)]\n` +
  `           [--mqtt-port ${DEFAULT_PORTS.mqtt}] [--ws-port ${DEFAULT_PORTS.mqttWs}] [--kinesis-port ${DEFAULT_PORTS.kinesis}]` +
  ` [--kinesalite-port ${DEFAULT_PORTS.kinesalite}] [--dynamodb-port ${DEFAULT_PORTS.dynamodb}] [--iot-data-port ${DEFAULT_PORTS.iotData}]\n`;

const { values } = parseFlags(
  'pnpm stack',
  {
    options: {
      stack: { type: 'string' },
      'stack-file': { type: 'string' },
      bundle: { type: 'string', default: DEFAULT_BUNDLE },
      'data-dir': { type: 'string', default: path.join(PACKAGE_DIR, '.local-stack') },
      'no-limits': { type: 'boolean', default: false },
      'external-broker': { type: 'string' },
      // Dev knob: fire scheduled rules (e.g. the sweep, rate(1 minute)) this often instead of their rate.
      'schedule-interval-ms': { type: 'string' },
      'mqtt-port': { type: 'string' },
      'ws-port': { type: 'string' },
      'kinesis-port': { type: 'string' },
      'kinesalite-port': { type: 'string' },
      'dynamodb-port': { type: 'string' },
      'iot-data-port': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  },
  USAGE,
);

if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

// Found now: starting the stack takes seconds, and a pnpm killed meanwhile is no longer an ancestor after.
const launchers = findLaunchers();

let ports: Ports;
try {
  ports = {
    mqtt: portFlag('mqtt-port', values['mqtt-port'], DEFAULT_PORTS.mqtt),
    mqttWs: portFlag('ws-port', values['ws-port'], DEFAULT_PORTS.mqttWs),
    kinesis: portFlag('kinesis-port', values['kinesis-port'], DEFAULT_PORTS.kinesis),
    kinesalite: portFlag('kinesalite-port', values['kinesalite-port'], DEFAULT_PORTS.kinesalite),
    dynamodb: portFlag('dynamodb-port', values['dynamodb-port'], DEFAULT_PORTS.dynamodb),
    iotData: portFlag('iot-data-port', values['iot-data-port'], DEFAULT_PORTS.iotData),
  };
} catch (error) {
  process.stderr.write(`pnpm stack: ${(error as Error).message}\n${USAGE}`);
  process.exit(2);
}

async function stackFile(): Promise<string> {
  if (values['stack-file']) return userPath(values['stack-file']);
  const stacks = await readdir(INFRA_OUT).catch(() => [] as string[]);
  const name = values.stack ?? stacks[0];
  if (name === undefined) {
    throw new Error(
      `no synthesized stack under ${INFRA_OUT}: run \`pnpm --filter @alleycat/infra synth\` first`,
    );
  }
  return path.join(INFRA_OUT, name, 'cdk.tf.json');
}

try {
  const file = await stackFile();
  const config = await loadStackConfig(file);
  const stack = await startStack({
    config,
    ports,
    dataDir: userPath(values['data-dir']!),
    bundle: userPath(values.bundle!),
    limitsEnabled: !values['no-limits'],
    ...(values['external-broker'] ? { externalBroker: values['external-broker'] } : {}),
    ...(values['schedule-interval-ms'] === undefined
      ? {}
      : { scheduleIntervalMs: Number(values['schedule-interval-ms']) }),
  });
  const e = stack.endpoints;
  const kinesisPort = new URL(e.kinesis).port;
  process.stdout.write(
    [
      `Alleycat local stack (${config.stackName}, from ${path.relative(process.cwd(), file)}) — Ctrl-C stops it`,
      '',
      `  MQTT            ${e.mqtt}`,
      `  MQTT over WS    ${e.ws ?? '(off)'}`,
      `  Kinesis         ${e.kinesis}   (AWS shard limits ${values['no-limits'] ? 'OFF' : 'enforced'})`,
      `  DynamoDB        ${e.dynamodb}`,
      `  IoT data plane  ${e.iotData}   (POST /topics/{topic})`,
      '',
      `  streams: ${config.streams.map((s) => `${s.name} (${s.shardCount} shards)`).join(', ')}`,
      `  tables:  ${config.tables.map((t) => t.name).join(', ')}`,
      `  rules:   ${config.topicRules.map((r) => `${r.name}: ${r.sql}`).join('; ')}`,
      `  schedules: ${
        config.schedules
          .map(
            (s) =>
              `${s.ruleName} ${s.expression}${values['schedule-interval-ms'] === undefined ? '' : ` (every ${values['schedule-interval-ms']} ms here)`} → ${s.functionName}`,
          )
          .join('; ') || '(none)'
      }`,
      `  files:   errors bucket ${stack.dirs.errorsBucket}, on-failure ${stack.dirs.onFailure}, rule logs ${stack.dirs.ruleLogs}`,
      '',
      '  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local',
      `  export AWS_REGION=${config.region} AWS_DEFAULT_REGION=${config.region}`,
      `  export AWS_ENDPOINT_URL_KINESIS=${e.kinesis}`,
      `  export AWS_ENDPOINT_URL_DYNAMODB=${e.dynamodb}`,
      `  export AWS_ENDPOINT_URL_IOT_DATA_PLANE=${e.iotData}`,
      '  # AWS CLI before v2.13 (Debian bookworm has 2.9) ignores AWS_ENDPOINT_URL_*: give it --endpoint-url',
      `  aws kinesis list-streams --endpoint-url ${e.kinesis}`,
      `  mosquitto_sub -h 127.0.0.1 -p ${new URL(e.mqtt).port} -t 'alleycat-subscribe/#' -v`,
      `  (Kinesis port ${kinesisPort}: HTTP/1.1 and HTTP/2 (h2c); SDK clients need only the endpoint)`,
      '',
    ].join('\n'),
  );
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    stack.supervisor.beginShutdown();
    process.stdout.write('\nstopping…\n');
    await stack.stop();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  stopWhenLauncherExits(
    () => {
      process.stdout.write('\nthe package manager that started this stack exited (SIGTERM to pnpm?)\n');
      void stop();
    },
    500,
    launchers,
  );
} catch (error) {
  process.stderr.write(`pnpm stack: ${(error as Error).message}\n`);
  process.exit(1);
}
