/**
 * AWS SDK v3 clients, one per container. HTTP/1.1 with keep-alive: reused connections on AWS, and the
 * local emulators (dynalite, the stack's IoT endpoint) break on the SDK's HTTP/2 default (FIELD-NOTES).
 * DynamoDB's endpoint follows the SDK's own `AWS_ENDPOINT_URL_DYNAMODB` (set by the local stack only).
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { IngestConfig } from './types.js';

/** The clients' HTTP handler; `requestTimeoutMs` is 5 s in the Lambda (tests pass less). */
export function requestHandler(requestTimeoutMs = 5_000): NodeHttpHandler {
  return new NodeHttpHandler({
    httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 50 }),
    httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 50 }),
    connectionTimeout: 2_000,
    requestTimeout: requestTimeoutMs,
    // A hung call fails as a retryable TimeoutError (the SDK alone only warns and waits until the Lambda times out).
    throwOnRequestTimeout: true,
  });
}

export interface IngestClients {
  dynamodb: DynamoDBClient;
  iotData: IoTDataPlaneClient;
  s3?: S3Client;
}

export function createClients(config: IngestConfig): IngestClients {
  const clients: IngestClients = {
    dynamodb: new DynamoDBClient({ region: config.region, requestHandler: requestHandler(), maxAttempts: 3 }),
    iotData: new IoTDataPlaneClient({
      region: config.region,
      endpoint: config.iotDataEndpoint,
      requestHandler: requestHandler(),
      maxAttempts: 2,
    }),
  };
  if (config.errorsBucket !== undefined) {
    clients.s3 = new S3Client({ region: config.region, requestHandler: requestHandler() });
  }
  return clients;
}
