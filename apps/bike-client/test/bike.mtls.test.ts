import { execFileSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bike } from '../src/bike.js';
import { type MosquittoServer, startMosquitto, tempDir } from './support/processes.js';

// The AWS IoT code path (AwsIotMqttConnectionConfigBuilder, mutual TLS from certificate/key/CA files)
// against mosquitto configured like IoT Core: a client certificate is required and names the client.
let dir: string;
let broker: MosquittoServer;

/** Runs `openssl` in `dir` with `command` split on white space (no argument here contains any). */
function openssl(command: string) {
  execFileSync('openssl', command.trim().split(/\s+/), { cwd: dir, stdio: 'ignore' });
}

function issue(name: string, ca: string) {
  openssl(`req -newkey rsa:2048 -nodes -keyout ${name}.key -out ${name}.csr -subj /CN=${name}`);
  openssl(`x509 -req -in ${name}.csr -CA ${ca}.pem -CAkey ${ca}.key -CAcreateserial
           -out ${name}.pem -days 1 -extfile san.ext`);
}

beforeAll(async () => {
  dir = tempDir('alleycat-mtls-');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  for (const ca of ['ca', 'rogue-ca']) {
    openssl(`req -x509 -newkey rsa:2048 -nodes -keyout ${ca}.key -out ${ca}.pem -days 1 -subj /CN=${ca}`);
  }
  issue('server', 'ca');
  issue('racer-7', 'ca');
  issue('racer-8', 'rogue-ca');
  // mosquitto drops root privileges before reading its key.
  chmodSync(dir, 0o755);
  for (const file of ['server.key', 'racer-7.key', 'racer-8.key']) chmodSync(join(dir, file), 0o644);
  broker = await startMosquitto(undefined, dir, [
    `cafile ${join(dir, 'ca.pem')}`,
    `certfile ${join(dir, 'server.pem')}`,
    `keyfile ${join(dir, 'server.key')}`,
    'require_certificate true',
    'use_identity_as_username true',
  ]);
});
afterAll(async () => {
  await broker?.stop();
});

const message = (second: number) => ({
  event: 'update' as const,
  deviceTimestamp: 1_764_000_000_000 + second * 1000,
  second,
  raceId: 1,
  name: 'TLS Rider',
  racerId: 7,
  classId: 2,
  cadence: 85,
  resistance: 45,
});

function awsBike(racerId: number): Bike {
  return new Bike({
    racerId,
    classId: 2,
    qos: 1,
    connectAttempts: 1,
    endpoint: {
      mode: 'aws',
      endpoint: 'localhost',
      port: broker.port,
      certPath: join(dir, `racer-${racerId}.pem`),
      keyPath: join(dir, `racer-${racerId}.key`),
      caPath: join(dir, 'ca.pem'),
    },
  });
}

describe('Bike in AWS IoT mode (mutual TLS)', () => {
  it('connects with its certificate and gets QoS 1 acknowledgements', async () => {
    const bike = awsBike(7);
    try {
      await bike.connect();
      for (let s = 0; s < 5; s++) bike.publish(message(s));
      expect(await bike.drain(10_000)).toBe(true);
      expect(bike.stats).toMatchObject({ published: 5, delivered: 5 });
    } finally {
      await bike.close();
    }
  });

  it('is refused with a certificate from another CA', async () => {
    const bike = awsBike(8);
    try {
      await expect(bike.connect()).rejects.toMatchObject({
        name: 'EndpointUnreachableError',
        retryable: true,
      });
    } finally {
      await bike.close();
    }
  });
});
