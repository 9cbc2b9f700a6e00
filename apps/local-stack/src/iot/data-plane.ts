/**
 * The IoT data plane's `Publish` (`POST /topics/{topic}?qos=N[&retain=true]`, body = payload), forwarding into
 * the MQTT broker as an MQTT client — so, as on AWS, an HTTP publish goes through the rules engine like any
 * other message, and its MQTT 5 properties (`contentType`, `responseTopic`, `messageExpiry` in the query;
 * user properties, payload format and correlation data in `x-amz-mqtt5-*` headers) reach MQTT 5 subscribers.
 * `@aws-sdk/client-iot-data-plane` and `aws iot-data publish` work against it with only the endpoint set.
 * Errors use AWS's REST-JSON shape: `x-amzn-ErrorType` header and `{ "message": … }`.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { IOT_MESSAGE_MAX_BYTES, IOT_QOS_LEVELS } from '@alleycat/schema';
import mqtt, { type IClientPublishOptions, type MqttClient } from 'mqtt';
import { IOT_DATA_PLANE_CLIENT_ID, MAXIMUM_PACKET_SIZE, RECEIVE_MAXIMUM } from '../broker/constants.js';
import { iotTopicProblem } from '../broker/topics.js';
import { DATA_PLANE_PUBLISH_TIMEOUT_MS } from '../constants.js';
import { withinMs } from '../deadline.js';
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
  const clientId = options.clientId ?? `${IOT_DATA_PLANE_CLIENT_ID}-${process.pid}`;
  // Publishes without MQTT 5 properties (the Lambda's leaderboards) go as MQTT 3.1.1: a payload of up to
  // 128 KiB whatever its topic, as IoT's HTTP Publish takes it. A device's MQTT 5 limits (a 128 KiB packet,
  // 100 QoS 1 publishes in flight) do not apply to the data plane; the MQTT 5 connection, made when a call
  // first carries properties, keeps within them (`mqtt5Room`, `InFlight`).
  const client: MqttClient = await mqtt.connectAsync(options.brokerUrl, {
    clientId,
    protocolVersion: 4,
    reconnectPeriod: 500,
  });
  let client5: Promise<MqttClient> | undefined;
  const mqtt5Client = () =>
    (client5 ??= mqtt.connectAsync(options.brokerUrl, {
      clientId: `${clientId}-mqtt5`,
      protocolVersion: 5,
      reconnectPeriod: 500,
    }));
  const inFlight5 = new InFlight(RECEIVE_MAXIMUM);
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
    if (/^\/(retainedMessage|things\/)/.test(url.pathname)) {
      // Not "nothing retained" (AWS's ResourceNotFoundException for GetRetainedMessage), which a 404 would say.
      return reject(
        501,
        'NotImplementedException',
        `${req.method} ${url.pathname}: retained-message and device-shadow calls are not emulated by the local stack (it implements Publish: POST /topics/{topic})`,
      );
    }
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
    const topicProblem = iotTopicProblem(topic);
    if (topicProblem !== undefined)
      return reject(400, 'InvalidRequestException', `topic ${JSON.stringify(topic)} ${topicProblem}`);
    if (body === undefined)
      return reject(413, 'RequestEntityTooLargeException', `payload exceeds ${IOT_MESSAGE_MAX_BYTES} bytes`);
    const retain = url.searchParams.get('retain') === 'true';
    const properties = mqtt5Properties(url.searchParams, req.headers);
    if (typeof properties === 'string') return reject(400, 'InvalidRequestException', properties);
    // A broker that is down or restarting: answer as IoT does when it cannot take a publish (503, which the
    // SDKs retry), instead of holding the caller until the broker is back.
    const unavailable = () =>
      reject(503, 'ServiceUnavailableException', `the MQTT broker ${options.brokerUrl} is not reachable`);
    if (!client.connected) return unavailable();
    const withProperties = Object.keys(properties).length > 0;
    if (withProperties && !mqtt5Room(topic, body, properties))
      return reject(
        413,
        'RequestEntityTooLargeException',
        `with its MQTT 5 properties the message exceeds the ${MAXIMUM_PACKET_SIZE}-byte MQTT 5 packet IoT Core sends`,
      );
    const publishOptions = { qos: qos as 0 | 1, retain };
    const publishing = withProperties
      ? mqtt5Client().then((publisher) =>
          inFlight5.run(() => publisher.publishAsync(topic, body, { ...publishOptions, properties })),
        )
      : client.publishAsync(topic, body, publishOptions);
    if ((await withinMs(DATA_PLANE_PUBLISH_TIMEOUT_MS, publishing)) === undefined) return unavailable();
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
      if (client5 !== undefined) await (await client5).endAsync(true);
    },
  };
}

type PublishProperties = NonNullable<IClientPublishOptions['properties']>;

/** Runs at most `limit` tasks at once (the broker's Receive Maximum, which mqtt.js does not keep to). */
export class InFlight {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly limit: number) {}
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running += 1;
    try {
      return await task();
    } finally {
      this.running -= 1;
      this.waiting.shift()?.();
    }
  }
}

/** Whether a PUBLISH of this topic, payload and properties fits the MQTT 5 Maximum Packet Size (an upper bound). */
export function mqtt5Room(topic: string, payload: Buffer, properties: PublishProperties): boolean {
  let bytes = 2 + Buffer.byteLength(topic) + 2 + 4 + payload.length; // topic, packet id, property length
  const text = (value: string | undefined) => (value === undefined ? 0 : 3 + Buffer.byteLength(value));
  bytes += text(properties.contentType) + text(properties.responseTopic);
  if (properties.correlationData !== undefined) bytes += 3 + properties.correlationData.length;
  if (properties.messageExpiryInterval !== undefined) bytes += 5;
  if (properties.payloadFormatIndicator !== undefined) bytes += 2;
  for (const [key, value] of Object.entries(properties.userProperties ?? {}))
    for (const v of Array.isArray(value) ? value : [value])
      bytes += 5 + Buffer.byteLength(key) + Buffer.byteLength(v);
  return bytes <= MAXIMUM_PACKET_SIZE;
}

/**
 * The MQTT 5 properties of a Publish call, as the IoT data plane API carries them, or what is wrong with them.
 * `x-amz-mqtt5-user-properties` is base64 of a JSON array of one-key objects (`[{"deviceName":"alpha"}]`),
 * as the SDKs send a JSON header; a key given twice keeps both values, as MQTT 5 allows.
 */
export function mqtt5Properties(
  query: URLSearchParams,
  headers: http.IncomingHttpHeaders,
): PublishProperties | string {
  const properties: PublishProperties = {};
  const contentType = query.get('contentType');
  if (contentType !== null) properties.contentType = contentType;
  const responseTopic = query.get('responseTopic');
  if (responseTopic !== null) {
    if (responseTopic === '' || /[+#]/.test(responseTopic))
      return `responseTopic ${JSON.stringify(responseTopic)} must be a topic name without wildcards`;
    properties.responseTopic = responseTopic;
  }
  const expiry = query.get('messageExpiry');
  if (expiry !== null) {
    const seconds = Number(expiry);
    if (!/^\d+$/.test(expiry) || seconds > 0xffffffff)
      return `messageExpiry must be a whole number of seconds (at most 4294967295), got ${JSON.stringify(expiry)}`;
    properties.messageExpiryInterval = seconds;
  }
  const format = headers['x-amz-mqtt5-payload-format-indicator'];
  if (format !== undefined) {
    if (format !== 'UNSPECIFIED_BYTES' && format !== 'UTF8_DATA')
      return `x-amz-mqtt5-payload-format-indicator must be UNSPECIFIED_BYTES or UTF8_DATA, got ${JSON.stringify(format)}`;
    properties.payloadFormatIndicator = format === 'UTF8_DATA';
  }
  const correlation = headers['x-amz-mqtt5-correlation-data'];
  if (typeof correlation === 'string') properties.correlationData = Buffer.from(correlation, 'base64');
  const user = headers['x-amz-mqtt5-user-properties'];
  if (typeof user === 'string') {
    let entries: unknown;
    try {
      entries = JSON.parse(Buffer.from(user, 'base64').toString('utf8'));
    } catch {
      return 'x-amz-mqtt5-user-properties must be base64 of a JSON array such as [{"deviceName":"alpha"}]';
    }
    if (!Array.isArray(entries))
      return 'x-amz-mqtt5-user-properties must be a JSON array of objects such as [{"deviceName":"alpha"}]';
    const userProperties: Record<string, string | string[]> = {};
    for (const entry of entries) {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
        return 'x-amz-mqtt5-user-properties: each entry must be an object of string values';
      for (const [key, value] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof value !== 'string')
          return `x-amz-mqtt5-user-properties: ${JSON.stringify(key)} must have a string value`;
        const seen = userProperties[key];
        userProperties[key] = seen === undefined ? value : [...(Array.isArray(seen) ? seen : [seen]), value];
      }
    }
    properties.userProperties = userProperties;
  }
  return properties;
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
