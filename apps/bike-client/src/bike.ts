/**
 * One bike on MQTT 3.1.1 through aws-iot-device-sdk-v2: AWS IoT Core with mutual TLS, or a local broker over
 * plain TCP. Client id = thing name = `racer-{racerId}` (DESIGN § Identities).
 *
 * Delivery: every message goes through a bounded queue. While the connection is up, messages are handed to
 * the SDK (at most `maxInFlight` at a time); a QoS 1 message leaves the queue only on its PUBACK, and one
 * whose publish fails (timeout, connection lost) goes back to the front to be sent again, so a broker outage
 * loses nothing (it may duplicate; the pipeline deduplicates). While offline, messages wait. When the queue
 * is full, the oldest waiting message is dropped, counted and reported (`onDropped` / `dropped` event).
 * QoS 0 is at most once once handed to the socket, as in the seed; it also waits in the queue while offline.
 *
 * Reconnects use the SDK's exponential backoff (`reconnectMinSeconds` doubling to `reconnectMaxSeconds`);
 * the first connect is retried `connectAttempts` times with the same backoff, then fails with
 * `EndpointUnreachableError`.
 */
import { EventEmitter } from 'node:events';
import {
  clientIdFor,
  INGEST_TOPIC,
  IOT_PUBLISH_PER_CONNECTION_PER_SECOND,
  type RaceMessage,
  resultsTopicFor,
} from '@alleycat/schema';
import { io, iot, mqtt } from 'aws-iot-device-sdk-v2';
import { BIKE_DEFAULTS } from './constants.js';
import { BikeClosedError, EndpointUnreachableError, TlsMaterialError } from './errors.js';
import { encodeChecked } from './race.js';
import { StandingsTracker } from './standings.js';
import type { BikeEndpoint, BikeStats, DropReason, OwnStanding } from './types.js';

export interface BikeOptions {
  racerId: number;
  classId: number;
  endpoint: BikeEndpoint;
  qos?: 0 | 1;
  /** Subscribe to the class's results topic and track the standing. Default true. */
  subscribeResults?: boolean;
  maxQueuedMessages?: number;
  /** Publishes handed to the SDK and not yet complete. */
  maxInFlight?: number;
  keepAliveSeconds?: number;
  reconnectMinSeconds?: number;
  reconnectMaxSeconds?: number;
  connectAttempts?: number;
  connectTimeoutMs?: number;
  operationTimeoutMs?: number;
  /** Topic to publish to (tests); default `INGEST_TOPIC`. */
  topic?: string;
  /** Messages given up on: at the queue bound (`queue_full`) or still queued at `close()` (`closed`). */
  onDropped?: (messages: RaceMessage[], reason: DropReason) => void;
  onStanding?: (standing: OwnStanding) => void;
  /** One shared SDK client (event loop) for many bikes; created per bike when absent. */
  client?: mqtt.MqttClient;
}

interface Queued {
  message: RaceMessage;
  payload: string;
  /** Order of `publish` calls: a message sent again goes back to its place, not ahead of older ones. */
  seq: number;
}

export class Bike extends EventEmitter {
  readonly racerId: number;
  readonly classId: number;
  readonly clientId: string;
  readonly qos: 0 | 1;
  private readonly options: BikeOptions;
  private readonly topic: string;
  private readonly maxQueued: number;
  private readonly maxInFlight: number;
  private readonly connection: mqtt.MqttClientConnection;
  private readonly tracker: StandingsTracker;
  private readonly queue: Queued[] = [];
  /** Handed to the SDK, not yet acknowledged (QoS 1) or written (QoS 0). */
  private readonly inFlightItems = new Set<Queued>();
  private online = false;
  /**
   * Publishes handed to the SDK at once: `maxInFlight`, down to 1 after a publish went unacknowledged while the
   * connection looked up (a half-open socket is only noticed at the keep-alive). Then one message at a time
   * probes the way until an acknowledgement or a reconnect opens it again — else every operation timeout
   * would send the whole queue again, each message many times over.
   */
  private window: number;
  private nextSeq = 0;
  private closed = false;
  private everConnected = false;
  private drainWaiters: Array<() => void> = [];
  private readonly counters = {
    published: 0,
    delivered: 0,
    resent: 0,
    dropped: 0,
    interruptions: 0,
    reconnects: 0,
    leaderboards: 0,
  };

  constructor(options: BikeOptions) {
    super();
    this.options = options;
    this.racerId = options.racerId;
    this.classId = options.classId;
    this.clientId = clientIdFor(options.racerId);
    this.qos = options.qos ?? BIKE_DEFAULTS.qos;
    this.topic = options.topic ?? INGEST_TOPIC;
    this.maxQueued = options.maxQueuedMessages ?? BIKE_DEFAULTS.maxQueuedMessages;
    this.maxInFlight = Math.min(
      options.maxInFlight ?? BIKE_DEFAULTS.maxInFlight,
      IOT_PUBLISH_PER_CONNECTION_PER_SECOND,
    );
    this.window = this.maxInFlight;
    this.tracker = new StandingsTracker(options.racerId);
    const client = options.client ?? new mqtt.MqttClient();
    this.connection = client.new_connection(this.buildConfig());
    this.connection.on('interrupt', () => {
      this.online = false;
      this.counters.interruptions += 1;
      this.emit('interrupt');
    });
    this.connection.on('resume', (_code: number, sessionPresent: boolean) => {
      this.counters.reconnects += 1;
      this.online = true;
      this.window = this.maxInFlight;
      this.emit('resume');
      // A clean session forgets subscriptions: subscribe again.
      if (!sessionPresent) void this.subscribeResults().catch(() => undefined);
      this.pump();
    });
    // Keep SDK errors from becoming unhandled 'error' events; they surface through publish/connect.
    this.connection.on('error', (error: Error) => this.emit('connection-error', error));
  }

  private buildConfig(): mqtt.MqttConnectionConfig {
    const o = this.options;
    const keepAlive = o.keepAliveSeconds ?? BIKE_DEFAULTS.keepAliveSeconds;
    const reconnectMin = o.reconnectMinSeconds ?? BIKE_DEFAULTS.reconnectMinSeconds;
    const reconnectMax = o.reconnectMaxSeconds ?? BIKE_DEFAULTS.reconnectMaxSeconds;
    const connectTimeout = o.connectTimeoutMs ?? BIKE_DEFAULTS.connectTimeoutMs;
    const operationTimeout = o.operationTimeoutMs ?? BIKE_DEFAULTS.operationTimeoutMs;
    const socket = new io.SocketOptions(io.SocketType.STREAM, io.SocketDomain.IPV4, connectTimeout);
    if (o.endpoint.mode === 'aws') {
      const e = o.endpoint;
      try {
        const builder = iot.AwsIotMqttConnectionConfigBuilder.new_mtls_builder_from_path(
          e.certPath,
          e.keyPath,
        )
          .with_endpoint(e.endpoint)
          .with_client_id(this.clientId)
          .with_clean_session(true)
          .with_keep_alive_seconds(keepAlive)
          .with_ping_timeout_ms(BIKE_DEFAULTS.pingTimeoutMs)
          .with_protocol_operation_timeout_ms(operationTimeout)
          .with_reconnect_min_sec(reconnectMin)
          .with_reconnect_max_sec(reconnectMax)
          .with_socket_options(socket);
        if (e.caPath) builder.with_certificate_authority_from_path(undefined, e.caPath);
        if (e.port) builder.with_port(e.port);
        return builder.build();
      } catch (error) {
        // aws-crt's native errors (AWS_ERROR_INVALID_ARGUMENT, …) do not say which file: name them all.
        throw new TlsMaterialError(
          { cert: e.certPath, key: e.keyPath, ...(e.caPath ? { ca: e.caPath } : {}) },
          (error as Error).message.split('\n')[0]!,
          error,
        );
      }
    }
    return {
      client_id: this.clientId,
      host_name: o.endpoint.host,
      port: o.endpoint.port,
      clean_session: true,
      keep_alive: keepAlive,
      ping_timeout: BIKE_DEFAULTS.pingTimeoutMs,
      protocol_operation_timeout: operationTimeout,
      reconnect_min_sec: reconnectMin,
      reconnect_max_sec: reconnectMax,
      socket_options: socket,
      // Otherwise the SDK sends its metrics string as the MQTT username, which local brokers may refuse.
      disable_metrics: true,
    };
  }

  /** `host:port` (local) or the IoT endpoint, for messages. */
  get endpointName(): string {
    const e = this.options.endpoint;
    return e.mode === 'local' ? `mqtt://${e.host}:${e.port}` : `mqtts://${e.endpoint}:${e.port ?? 8883}`;
  }

  get stats(): BikeStats {
    return { ...this.counters, queued: this.queue.length, inFlight: this.inFlightItems.size };
  }

  get standing(): OwnStanding | undefined {
    return this.tracker.standing;
  }

  get isOnline(): boolean {
    return this.online;
  }

  /** Connects (retrying with backoff) and subscribes to the class's results. */
  async connect(): Promise<void> {
    if (this.closed) throw new BikeClosedError();
    const attempts = this.options.connectAttempts ?? BIKE_DEFAULTS.connectAttempts;
    let delay = (this.options.reconnectMinSeconds ?? BIKE_DEFAULTS.reconnectMinSeconds) * 1000;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.connection.connect();
        break;
      } catch (error) {
        if (attempt >= attempts || this.closed) {
          throw new EndpointUnreachableError(this.endpointName, describeCrtError(error), error);
        }
        await new Promise((resolve) => setTimeout(resolve, delay * (0.5 + Math.random() / 2)));
        delay = Math.min(
          delay * 2,
          (this.options.reconnectMaxSeconds ?? BIKE_DEFAULTS.reconnectMaxSeconds) * 1000,
        );
      }
    }
    this.online = true;
    this.everConnected = true;
    await this.subscribeResults();
    this.pump();
  }

  private async subscribeResults(): Promise<void> {
    if (this.options.subscribeResults === false) return;
    await this.connection.subscribe(resultsTopicFor(this.classId), mqtt.QoS.AtMostOnce, (_topic, payload) => {
      this.counters.leaderboards += 1;
      const standing = this.tracker.accept(new Uint8Array(payload));
      if (standing) {
        this.options.onStanding?.(standing);
        this.emit('standing', standing);
      }
    });
  }

  /**
   * Queues one race message (validated against the schema and its byte budget first; throws
   * `InvalidMessageError` if it fails). Never blocks: the queue is bounded and reports what it drops.
   */
  publish(message: RaceMessage): void {
    if (this.closed) throw new BikeClosedError();
    const payload = encodeChecked(message);
    this.counters.published += 1;
    this.queue.push({ message, payload, seq: this.nextSeq++ });
    if (this.queue.length + this.inFlightItems.size > this.maxQueued) {
      const excess = Math.min(
        this.queue.length,
        this.queue.length + this.inFlightItems.size - this.maxQueued,
      );
      const dropped = this.queue.splice(0, excess).map((q) => q.message);
      this.counters.dropped += dropped.length;
      this.options.onDropped?.(dropped, 'queue_full');
      this.emit('dropped', dropped, 'queue_full');
    }
    this.pump();
  }

  private pump(): void {
    while (this.online && !this.closed && this.inFlightItems.size < this.window && this.queue.length > 0) {
      const item = this.queue.shift()!;
      this.inFlightItems.add(item);
      this.connection
        .publish(this.topic, item.payload, this.qos === 1 ? mqtt.QoS.AtLeastOnce : mqtt.QoS.AtMostOnce)
        .then(
          () => {
            // Not in the set any more: `close()` already reported it as undelivered.
            if (!this.inFlightItems.delete(item)) return;
            this.counters.delivered += 1;
            this.window = this.maxInFlight;
            this.settled();
          },
          () => {
            // Not acknowledged (timeout, connection lost): back in its place, sent again once the way is clear.
            if (!this.inFlightItems.delete(item)) return;
            if (this.closed) return this.settled();
            this.counters.resent += 1;
            this.requeue(item);
            this.window = 1;
            this.settled();
          },
        );
    }
  }

  /** Back into the queue before every later message (the queue stays in `publish` order). */
  private requeue(item: Queued): void {
    let at = 0;
    while (at < this.queue.length && this.queue[at]!.seq < item.seq) at++;
    this.queue.splice(at, 0, item);
  }

  private settled(): void {
    this.pump();
    if (this.queue.length === 0 && this.inFlightItems.size === 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** Resolves when nothing is queued or in flight; false if `timeoutMs` passed first. */
  async drain(timeoutMs = 30_000): Promise<boolean> {
    if (this.queue.length === 0 && this.inFlightItems.size === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      new Promise<boolean>((resolve) => this.drainWaiters.push(() => resolve(true))),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return drained;
  }

  /**
   * Disconnects. Messages still queued, and those sent but not acknowledged, are returned (and counted as
   * dropped) so the caller can keep them: call `drain()` first to send them.
   */
  async close(): Promise<RaceMessage[]> {
    if (this.closed) return [];
    this.closed = true;
    const left = [...this.inFlightItems, ...this.queue.splice(0)].map((q) => q.message);
    this.inFlightItems.clear();
    if (left.length > 0) {
      this.counters.dropped += left.length;
      this.options.onDropped?.(left, 'closed');
      this.emit('dropped', left, 'closed');
    }
    if (this.everConnected) {
      try {
        await this.connection.disconnect();
      } catch {
        // Already gone: nothing left to release.
      }
    }
    return left;
  }
}

/** The SDK's error as one line (`AWS_IO_SOCKET_CONNECTION_REFUSED: …`). */
export function describeCrtError(error: unknown): string {
  const e = error as { error_name?: string; error_code?: number; message?: string };
  if (e?.error_name) return `${e.error_name}${e.message ? ` (${e.message.split('\n')[0]})` : ''}`;
  return e?.message?.split('\n')[0] ?? String(error);
}

/** Parses `mqtt://host:port` into a local endpoint. */
export function localEndpointFromUrl(url: string): { mode: 'local'; host: string; port: number } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RangeError(`not a URL: ${JSON.stringify(url)} (expected mqtt://host:port)`);
  }
  if (parsed.protocol !== 'mqtt:' && parsed.protocol !== 'tcp:') {
    throw new RangeError(`unsupported scheme ${parsed.protocol} in ${url} (expected mqtt://host:port)`);
  }
  return {
    mode: 'local',
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 1883,
  };
}
