/**
 * A Kinesis client for the producer: HTTP/1.1 with keep-alive (local emulators break on the SDK's default
 * HTTP/2, FIELD-NOTES), the standard credential and region chain, and an optional endpoint override.
 * `AWS_ENDPOINT_URL_KINESIS` / `AWS_ENDPOINT_URL` are honoured by the SDK itself.
 */
import http from 'node:http';
import https from 'node:https';
import { KinesisClient, type KinesisClientConfig } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';

export interface KinesisClientOptions {
  /** e.g. `http://127.0.0.1:4567` for kinesalite. */
  endpoint?: string;
  region?: string;
  /**
   * SDK-level attempts per request. The producer retries itself (and counts it), so it creates clients with 1;
   * pass more for other uses.
   */
  maxAttempts?: number;
  /** Sockets per host; at least the producer's concurrency. */
  maxSockets?: number;
  requestTimeoutMs?: number;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** Whether `endpoint` points at this machine (then dummy credentials and a default region are fine). */
export function isLocalEndpoint(endpoint: string | undefined): boolean {
  if (endpoint === undefined) return false;
  try {
    return LOOPBACK.has(new URL(endpoint).hostname);
  } catch {
    return false;
  }
}

/** The endpoint override in effect: the option, else the standard environment variables. */
export function effectiveKinesisEndpoint(endpoint?: string): string | undefined {
  return endpoint ?? process.env.AWS_ENDPOINT_URL_KINESIS ?? process.env.AWS_ENDPOINT_URL;
}

export function createKinesisClient(options: KinesisClientOptions = {}): KinesisClient {
  const endpoint = effectiveKinesisEndpoint(options.endpoint);
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 64 };
  const config: KinesisClientConfig = {
    maxAttempts: options.maxAttempts ?? 1,
    requestHandler: new NodeHttpHandler({
      httpAgent: new http.Agent(agentOptions),
      httpsAgent: new https.Agent(agentOptions),
      connectionTimeout: 3_000,
      requestTimeout: options.requestTimeoutMs ?? 15_000,
      // Without it the SDK only logs a warning and waits on: an endpoint that accepts and never answers would
      // hold the simulator (and its Ctrl-C) for ever instead of retrying and reporting.
      throwOnRequestTimeout: true,
    }),
  };
  if (endpoint !== undefined) config.endpoint = endpoint;
  const region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (region !== undefined) config.region = region;
  if (isLocalEndpoint(endpoint)) {
    // Emulators accept any signature: do not make a laptop user configure AWS to run the local stack.
    config.region ??= 'us-east-1';
    if (process.env.AWS_ACCESS_KEY_ID === undefined && process.env.AWS_PROFILE === undefined) {
      config.credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
    }
  }
  return new KinesisClient(config);
}
