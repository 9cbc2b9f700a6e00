/**
 * The MQTT broker: aedes over TCP and MQTT-over-WebSocket, with the rules engine in its publish path. aedes
 * sends a QoS 1 PUBACK only after `authorizePublish` calls back (FIELD-NOTES), so the rule's action — Kinesis,
 * or the error action — has accepted the message before the publisher hears it was received. If even the
 * error action fails, the publish is refused (aedes closes the connection) and the client sends it again.
 * Like IoT Core, it refuses QoS 2 and payloads over 128 KiB by closing the publisher's connection.
 *
 * MQTT 5 clients (which aedes refuses) are told apart by the protocol level of their CONNECT and go through a
 * per-connection adapter that translates to 3.1.1 and back (`mqtt5-connection.ts`); 3.1.1 connections are
 * handed to aedes as before, with only their first bytes peeked at.
 */
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import { IOT_CLIENT_ID_MAX_BYTES, IOT_MESSAGE_MAX_BYTES } from '@alleycat/schema';
import { Aedes, type AedesPublishPacket, type Client } from 'aedes';
import type { IPublishPacket } from 'mqtt-packet';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { closeServer, LOCALHOST, listenOn } from '../net.js';
import { parseBasicIngestTopic, reachesBasicIngest } from '../rules/basic-ingest.js';
import type { RuleEngine } from '../rules/rule-engine.js';
import { sniffProtocolLevel } from './connect-sniffer.js';
import {
  IOT_DATA_PLANE_CLIENT_ID,
  KEEPALIVE_MAX_SECONDS,
  KEEPALIVE_MIN_SECONDS,
  MAX_SESSION_EXPIRY_SECONDS,
  MQTT5_PROTOCOL_LEVEL,
} from './constants.js';
import { publishLifecycleEvents } from './lifecycle-events.js';
import {
  type BrokerPublish,
  type Mqtt5BrokerHooks,
  Mqtt5Connection,
  type Mqtt5Link,
  type Mqtt5Stats,
} from './mqtt5-connection.js';
import { ReasonCode } from './reason-codes.js';
import { connectedClient, SessionExpiry } from './session-expiry.js';
import { iotTopicProblem, isSharedSubscription, willTopicProblem } from './topics.js';

export interface BrokerOptions {
  /** MQTT over TCP; 0 = a free port. */
  port?: number;
  /** MQTT over WebSocket; 0 = a free port, null = no WebSocket listener. */
  wsPort?: number | null;
  rules?: RuleEngine;
  /** The shortest keep-alive applied (default IoT Core's 30 s: shorter requests get 30); tests lower it. */
  minKeepaliveSeconds?: number;
  /**
   * How long a 3.1.1 persistent session (clean session = false) outlives its connection: IoT Core's default
   * of one hour (`MAX_SESSION_EXPIRY_SECONDS`); tests shorten it. (MQTT 5 clients set their own, capped so.)
   */
  persistentSessionSeconds?: number;
}

export interface RunningBroker {
  aedes: Aedes;
  /** Publishes refused as IoT Core refuses them (the client is disconnected; MQTT 5: DISCONNECT with a reason). */
  stats(): { refusedTooLarge: number; refusedQos2: number; refusedTopic: number; refusedClientId: number };
  /** MQTT 5 connections translated, publishes refused with a PUBACK reason code, deliveries dropped, errors. */
  mqtt5Stats(): Mqtt5Stats;
  mqttUrl: string;
  wsUrl?: string;
  close(): Promise<void>;
}

export interface BrokerStats {
  refusedTooLarge: number;
  refusedQos2: number;
  /** Publishes whose topic is over IoT Core's quotas (the connection is closed), and such subscriptions. */
  refusedTopic: number;
  /** CONNECTs whose client id is over 128 bytes. */
  refusedClientId: number;
  mqtt5: Mqtt5Stats;
}

/** The keep-alive IoT Core applies to a CONNECT's requested one. */
export function iotKeepalive(requested: number | undefined, minimum = KEEPALIVE_MIN_SECONDS): number {
  if (requested === undefined || requested === 0 || requested > KEEPALIVE_MAX_SECONDS)
    return KEEPALIVE_MAX_SECONDS;
  return Math.max(requested, minimum);
}

export async function startBroker(options: BrokerOptions = {}): Promise<RunningBroker> {
  const aedes = await Aedes.createBroker();
  const rules = options.rules;
  const counters: BrokerStats = {
    refusedTooLarge: 0,
    refusedQos2: 0,
    refusedTopic: 0,
    refusedClientId: 0,
    mqtt5: {
      connections: 0,
      aliasedPublishes: 0,
      publishesRefused: 0,
      oversizedDeliveriesDropped: 0,
      protocolErrors: 0,
    },
  };
  const sessions = new SessionExpiry(aedes);
  const lifecycle = publishLifecycleEvents(
    aedes,
    (client) => sessions.internal.has(client.conn) || client.id.startsWith(IOT_DATA_PLANE_CLIENT_ID),
  );
  // The streams aedes reads MQTT 5 connections from: their publishes were checked and ran the rules in the
  // adapter before reaching aedes (so a refusal can be a PUBACK reason code); their will was not.
  const links = new WeakMap<object, Mqtt5Link>();
  aedes.on('clientDisconnect', (client) => {
    const link = links.get(client.conn);
    if (link !== undefined) return link.unregistered();
    // aedes keeps a 3.1.1 persistent session forever; IoT Core ends it an hour after the connection.
    if (client.clean === false && !sessions.internal.has(client.conn))
      sessions.schedule(client.id, options.persistentSessionSeconds ?? MAX_SESSION_EXPIRY_SECONDS);
  });
  aedes.on('client', (client) => {
    if (links.get(client.conn) === undefined) sessions.cancel(client.id);
  });
  // IoT Core: devices cannot subscribe to Basic Ingest's reserved topics (the SUBACK refuses the filter).
  // Filters over IoT Core's topic quotas are refused the same way (MQTT 5 clients: by the adapter, with 0x8F).
  aedes.authorizeSubscribe = (_client, subscription, callback) => {
    if (reachesBasicIngest(subscription.topic)) return callback(null, null);
    // IoT Core has shared subscriptions; aedes does not. Refused (SUBACK 0x80) rather than granted and never
    // delivered; MQTT 5 clients get 0x9E from the adapter, and CONNACK says they are not available.
    if (isSharedSubscription(subscription.topic)) return callback(null, null);
    if (iotTopicProblem(subscription.topic) !== undefined) {
      counters.refusedTopic += 1;
      return callback(null, null);
    }
    callback(null, subscription);
  };
  const keepalive = (requested: number | undefined) =>
    iotKeepalive(requested, options.minKeepaliveSeconds ?? KEEPALIVE_MIN_SECONDS);
  // Before aedes reads the CONNECT: IoT Core's keep-alive bounds, and a will topic that could never be
  // published (a wildcard, over the topic quotas) closes the connection, as a protocol violation does.
  aedes.preConnect = (_client, packet, callback) => {
    packet.keepalive = keepalive(packet.keepalive);
    const will = packet.will?.topic;
    const problem = will === undefined ? undefined : willTopicProblem(will);
    if (problem !== undefined) {
      counters.refusedTopic += 1;
      return callback(new Error(`will topic ${JSON.stringify(will)} ${problem}`), false);
    }
    // Accepted: a client connected under this id is about to be taken over.
    const taken = connectedClient(aedes, packet.clientId);
    if (taken !== undefined) lifecycle.ending(taken as Client, 'DUPLICATE_CLIENTID');
    callback(null, true);
  };
  // IoT Core refuses a client id over 128 bytes (3.1.1: CONNACK 2, identifier rejected; MQTT 5: 0x85).
  aedes.authenticate = (client, _username, _password, callback) => {
    if (Buffer.byteLength(client.id) <= IOT_CLIENT_ID_MAX_BYTES) return callback(null, true);
    counters.refusedClientId += 1;
    const error = Object.assign(new Error(`client id over ${IOT_CLIENT_ID_MAX_BYTES} bytes`), {
      returnCode: 2,
    });
    callback(error as Error & { returnCode: 2 }, false);
  };
  aedes.authorizePublish = (client, packet, callback) => {
    // Messages the broker publishes itself (client null) are not device traffic.
    if (client === null) return callback(null);
    // Basic Ingest goes to its rule only, never through the broker: nothing to retain.
    if (parseBasicIngestTopic(packet.topic) !== undefined) packet.retain = false;
    const link = links.get(client.conn);
    if (link !== undefined) {
      if (packet !== (client as { will?: unknown }).will) {
        // Checked and run through the rules by the adapter already (so it could answer with a reason code).
        link.attach(packet as BrokerPublish);
        return callback(null);
      }
      link.attachWill(packet as BrokerPublish);
    }
    // IoT Core's message broker: no QoS 2, payloads up to 128 KiB; it drops the connection otherwise.
    const refuse = (counter: 'refusedQos2' | 'refusedTopic' | 'refusedTooLarge', why: string) => {
      counters[counter] += 1;
      lifecycle.ending(client, 'CLIENT_ERROR');
      callback(new Error(`client ${client.id}: ${why}`));
    };
    if (packet.qos === 2) return refuse('refusedQos2', 'QoS 2 is not supported (IoT Core: QoS 0 and 1 only)');
    const topicProblem = iotTopicProblem(packet.topic);
    if (topicProblem !== undefined) return refuse('refusedTopic', `topic ${topicProblem}`);
    if (packet.payload.length > IOT_MESSAGE_MAX_BYTES) {
      return refuse(
        'refusedTooLarge',
        `payload of ${packet.payload.length} bytes exceeds ${IOT_MESSAGE_MAX_BYTES}`,
      );
    }
    if (rules === undefined || !rules.matches(packet.topic)) return callback(null);
    rules.onMessage({ topic: packet.topic, payload: Buffer.from(packet.payload), clientId: client.id }).then(
      () => callback(null),
      (error: unknown) => callback(error as Error),
    );
  };
  /**
   * Deliveries IoT Core would not make, to any client: aedes's `$SYS/…` events (IoT Core has no `$SYS` topics;
   * they would also show other clients' ids and subscriptions), and retained messages replayed to a wildcard
   * subscription ("subscription to topic filters that contain a wildcard character can't receive retained
   * messages", developer guide, MQTT § retained messages): a replay reaches only an exact subscription.
   */
  const iotForward = (client: Client, packet: AedesPublishPacket): AedesPublishPacket | null => {
    if (packet.topic.startsWith('$SYS/')) return null;
    const replay = (packet as { brokerId?: string | null }).brokerId === null && packet.retain;
    if (replay && exactFilters.get(client)?.has(packet.topic) !== true) return null;
    return packet;
  };
  // aedes replays retained messages right after a SUBSCRIBE, for the filters it granted: a replay is for one of
  // them only if that SUBSCRIBE named the topic itself (a wildcard filter gets none, even when an earlier exact
  // subscription exists).
  const exactFilters = new WeakMap<Client, Set<string>>();
  aedes.on('subscribe', (subscriptions, client) => {
    exactFilters.set(
      client,
      new Set(
        subscriptions
          .filter((s) => (s.qos as number) !== 128 && !s.topic.includes('+') && !s.topic.includes('#'))
          .map((s) => s.topic),
      ),
    );
  });
  aedes.authorizeForward = iotForward;
  /**
   * Delivery of a message published with MQTT 5 properties: not once its Message Expiry Interval has passed
   * (to 3.1.1 subscribers too, as on IoT Core), and its properties handed to an MQTT 5 subscriber's adapter.
   */
  const forwardWithMqtt5Properties = (client: Client, packet: AedesPublishPacket) => {
    const publish = packet as unknown as BrokerPublish & { brokerId: string | null; retain: boolean };
    // aedes replays a retained message as a new packet without properties (brokerId null): restore them.
    if (publish.brokerId === null && publish.retain) {
      const kept = retainedProperties.get(publish.topic);
      if (kept?.payload.equals(Buffer.from(publish.payload))) {
        if (kept.properties !== undefined) publish.properties = kept.properties;
        if (kept.messageExpiry !== undefined) publish.messageExpiry = kept.messageExpiry;
      }
    }
    if (publish.messageExpiry !== undefined && publish.messageExpiry <= Date.now()) return null;
    links.get(client.conn)?.forwarding(publish);
    return packet;
  };
  /** MQTT 5 properties of retained messages, by topic (aedes's retained store keeps topic and payload only). */
  const retainedProperties = new Map<
    string,
    { payload: Buffer; properties?: object; messageExpiry?: number }
  >();
  const keepRetainedProperties = (packet: AedesPublishPacket, _client: Client | null, done: () => void) => {
    if (packet.retain) {
      const { properties, messageExpiry } = packet as unknown as BrokerPublish;
      if (packet.payload.length === 0 || (properties === undefined && messageExpiry === undefined))
        retainedProperties.delete(packet.topic);
      else {
        const kept: { payload: Buffer; properties?: object; messageExpiry?: number } = {
          payload: Buffer.from(packet.payload),
        };
        if (properties !== undefined) kept.properties = properties;
        if (messageExpiry !== undefined) kept.messageExpiry = messageExpiry;
        retainedProperties.set(packet.topic, kept);
      }
    }
    done();
  };
  const hooks: Mqtt5BrokerHooks = {
    aedes,
    sessions,
    register: (brokerSide, link) => {
      links.set(brokerSide, link);
      // Installed with the first MQTT 5 connection, so a 3.1.1-only broker skips the property work.
      aedes.authorizeForward = (client, packet) => {
        const allowed = iotForward(client, packet);
        return allowed === null ? null : forwardWithMqtt5Properties(client, allowed);
      };
      aedes.published = keepRetainedProperties;
    },
    keepalive,
    clientError: (brokerSide, clientId) => {
      const client = connectedClient(aedes, clientId) as Client | undefined;
      if (client !== undefined && client.conn === brokerSide) lifecycle.ending(client, 'CLIENT_ERROR');
    },
    refused: (kind) => {
      if (kind === 'qos2') counters.refusedQos2 += 1;
      else counters.refusedTooLarge += 1;
    },
    admit: (clientId, publish) => admitPublish(rules, clientId, publish),
  };
  const accept = (stream: Duplex, request?: IncomingMessage) =>
    sniffProtocolLevel(stream, (level, head) => {
      if (level === MQTT5_PROTOCOL_LEVEL) {
        new Mqtt5Connection(stream, head, hooks, counters.mqtt5, request);
        return;
      }
      aedes.handle(stream, request);
      stream.unshift(head);
    });
  const tcp: Server = createServer((socket) => accept(socket));
  const port = await listenOn(tcp, 'MQTT broker (TCP)', options.port ?? 0);
  if (options.wsPort === null) return finish(aedes, tcp, port, undefined, async () => {}, counters, sessions);
  const httpServer = createHttpServer((_req, res) => {
    res
      .writeHead(426, { 'content-type': 'text/plain' })
      .end('MQTT over WebSocket: connect with a WebSocket client\n');
  });
  const wss = new WebSocketServer({
    server: httpServer,
    // MQTT clients offer the `mqtt` subprotocol (`mqttv3.1` for old ones); answer with the one offered.
    handleProtocols: (protocols) =>
      protocols.has('mqtt') ? 'mqtt' : (protocols.values().next().value ?? false),
  });
  // ws re-emits the HTTP server's errors (EADDRINUSE from a busy port) on the WebSocketServer: unheard, they
  // would crash the broker instead of reaching `listenOn` below, which names the port.
  let wsListening = false;
  wss.on('error', (error) => {
    if (wsListening) process.stderr.write(`MQTT broker (WebSocket): ${String(error)}\n`);
  });
  wss.on('connection', (socket, request) => {
    const stream = createWebSocketStream(socket);
    stream.on('error', () => socket.terminate());
    accept(stream, request);
  });
  let wsPort: number;
  try {
    wsPort = await listenOn(httpServer, 'MQTT broker (WebSocket)', options.wsPort ?? 0);
    wsListening = true;
  } catch (error) {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await closeServer(tcp);
    throw error;
  }
  return finish(
    aedes,
    tcp,
    port,
    `ws://${LOCALHOST}:${wsPort}/mqtt`,
    async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      httpServer.closeAllConnections();
      await closeServer(httpServer);
    },
    counters,
    sessions,
  );
}

/** Rules for a publish from an MQTT 5 client: the PUBACK reason code (0x80 when even the error action failed). */
async function admitPublish(
  rules: RuleEngine | undefined,
  clientId: string,
  publish: IPublishPacket,
): Promise<{ reasonCode: number; reason?: string }> {
  if (rules === undefined || !rules.matches(publish.topic)) return { reasonCode: ReasonCode.Success };
  try {
    await rules.onMessage({ topic: publish.topic, payload: Buffer.from(publish.payload), clientId });
    return { reasonCode: ReasonCode.Success };
  } catch (error) {
    return { reasonCode: ReasonCode.UnspecifiedError, reason: (error as Error).message };
  }
}

function finish(
  aedes: Aedes,
  tcp: Server,
  port: number,
  wsUrl: string | undefined,
  closeWs: () => Promise<void>,
  counters: BrokerStats,
  sessions: SessionExpiry,
): RunningBroker {
  const running: RunningBroker = {
    aedes,
    stats: () => ({
      refusedTooLarge: counters.refusedTooLarge,
      refusedQos2: counters.refusedQos2,
      refusedTopic: counters.refusedTopic,
      refusedClientId: counters.refusedClientId,
    }),
    mqtt5Stats: () => ({ ...counters.mqtt5 }),
    mqttUrl: `mqtt://${LOCALHOST}:${port}`,
    async close() {
      sessions.close();
      await closeWs();
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await closeServer(tcp);
    },
  };
  if (wsUrl !== undefined) running.wsUrl = wsUrl;
  return running;
}
