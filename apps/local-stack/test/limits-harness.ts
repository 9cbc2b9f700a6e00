/**
 * kinesalite with the limits layer in front of it, and an SDK client on each side: what the limits-layer tests
 * start for each test (or each file). Each test file adds its own clients (a Java-style CBOR client, the AWS
 * CLI) on `url` and stops them before `close()`.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { localKinesisClient } from '../src/kinesis/client.js';
import { type RunningKinesalite, startKinesalite } from '../src/kinesis/kinesalite.js';
import { type KinesisLimitsOptions, KinesisLimitsProxy } from '../src/kinesis/limits-proxy.js';

export interface LimitsHarness {
  kinesalite: RunningKinesalite;
  proxy: KinesisLimitsProxy;
  /** The limits layer's URL. */
  url: string;
  /** SDK v3 through the limits layer, no retries (a throttle surfaces as an error). */
  viaProxy: KinesisClient;
  /** SDK v3 straight to kinesalite, no retries: sets up and reads back without spending the limits. */
  direct: KinesisClient;
  /** Destroys both clients, then stops the limits layer and kinesalite. */
  close(): Promise<void>;
}

/** Starts kinesalite and a limits layer in front of it (`options` are the layer's, bar `upstream`). */
export async function startLimitsHarness(
  options: Omit<KinesisLimitsOptions, 'upstream'> = {},
): Promise<LimitsHarness> {
  const kinesalite = await startKinesalite();
  const proxy = new KinesisLimitsProxy({ upstream: kinesalite.url, ...options });
  let url: string;
  try {
    url = await proxy.listen(0);
  } catch (error) {
    await kinesalite.close();
    throw error;
  }
  const viaProxy = localKinesisClient(url, { maxAttempts: 1 });
  const direct = localKinesisClient(kinesalite.url, { maxAttempts: 1 });
  return {
    kinesalite,
    proxy,
    url,
    viaProxy,
    direct,
    async close() {
      viaProxy.destroy();
      direct.destroy();
      await proxy.close();
      await kinesalite.close();
    },
  };
}
