/**
 * A Kinesis client for the local endpoints: HTTP/1.1 keep-alive (the SDK's default HTTP/2 breaks on local
 * emulators, FIELD-NOTES) and placeholder credentials.
 */
import http from 'node:http';
import { KinesisClient, type KinesisClientConfig } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';

export const LOCAL_REGION = 'us-east-1';
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

export function localKinesisClient(
  endpoint: string,
  config: Partial<KinesisClientConfig> = {},
): KinesisClient {
  return new KinesisClient({
    endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    requestHandler: new NodeHttpHandler({ httpAgent: new http.Agent({ keepAlive: true, maxSockets: 64 }) }),
    ...config,
  });
}
