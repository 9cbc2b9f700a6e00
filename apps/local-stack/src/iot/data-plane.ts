/**
 * The IoT data plane's `Publish` (`POST /topics/{topic}?qos=N[&retain=true]`, body = payload), forwarding into
 * the MQTT broker as an MQTT client — so, as on AWS, an HTTP publish goes through the rules engine like any
 * other message. `@aws-sdk/client-iot-data-plane` works against it with only `endpoint` overridden.
 * Errors use AWS's REST-JSON shape: `x-amzn-ErrorType` header and `{ "message": … }`.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { IOT_MESSAGE_MAX_BYTES, IOT_QOS_LEVELS } from '@alleycat/schema';
import mqtt, { type MqttClient } from 'mqtt';
import { closeServer, LOCALHOST, listenOn } from '../net.js';

export interface IotDataPlaneOptions {
  /** The broker to publish into, e.g. `mqtt://127.0.0.1:1883`. */
  brokerUrl: string;
  port?: number;
  /** MQTT client id the endpoint uses (rules see it as `clientid()`). */
  clientId?: string;
}

export interface RunningIotDataPlane {
  url: string;
  stats(): { published: number; rejected: number };
  close(): Promise<void>;
}

export async function startIotDataPlane(options: IotDataPlaneOptions): Promise<RunningIotDataPlane> {
  const client: MqttClient = await mqtt.connectAsync(options.brokerUrl, {
    clientId: options.clientId ?? `iot-data-plane-${process.pid}`,
    protocolVersion: 4,
    reconnectPeriod: 500,
  });
  const counters = { published: 0, rejected: 0 };
  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) =>
      sendError(res, 500, 'InternalFailureException', String(error)),
    );
  });
  server.keepAliveTimeout = 60_000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const body = await readBody(req, IOT_MESSAGE_MAX_BYTES);
    const reject = (status: number, type: string, message: string) => {
      counters.rejected += 1;
      sendError(res, status, type, message);
    };
    if (!url.pathname.startsWith('/topics/')) {
      return reject(
        404,
        'ResourceNotFoundException',
        `no such resource: ${req.method} ${url.pathname} (this endpoint implements Publish: POST /topics/{topic})`,
      );
    }
    if (req.method !== 'POST')
      return reject(405, 'MethodNotAllowedException', `${req.method} is not allowed on ${url.pathname}`);
    let topic: string;
    try {
      topic = decodeURIComponent(url.pathname.slice('/topics/'.length));
    } catch {
      return reject(400, 'InvalidRequestException', 'the topic in the path is not valid percent-encoding');
    }
    if (topic.length === 0) return reject(400, 'InvalidRequestException', 'topic must not be empty');
    if (/[+#]/.test(topic))
      return reject(
        400,
        'InvalidRequestException',
        `topic ${JSON.stringify(topic)} must not contain wildcards (+ or #)`,
      );
    const qos = Number(url.searchParams.get('qos') ?? '0');
    if (!(IOT_QOS_LEVELS as readonly number[]).includes(qos))
      return reject(400, 'InvalidRequestException', `qos must be 0 or 1, got ${url.searchParams.get('qos')}`);
    if (body === undefined)
      return reject(413, 'RequestEntityTooLargeException', `payload exceeds ${IOT_MESSAGE_MAX_BYTES} bytes`);
    const retain = url.searchParams.get('retain') === 'true';
    await client.publishAsync(topic, body, { qos: qos as 0 | 1, retain });
    counters.published += 1;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 }).end('{}');
  }

  const port = await listenOn(server, 'IoT data plane', options.port ?? 0);
  return {
    url: `http://${LOCALHOST}:${port}`,
    stats: () => ({ ...counters }),
    async close() {
      server.closeAllConnections();
      await closeServer(server);
      await client.endAsync(true);
    },
  };
}

function sendError(res: ServerResponse, status: number, type: string, message: string): void {
  if (res.headersSent) return void res.destroy();
  const body = JSON.stringify({ message });
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-amzn-errortype': type,
  });
  res.end(body);
}

/** The body, or undefined when it exceeds `limit` bytes (the rest is read and dropped). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > limit ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
