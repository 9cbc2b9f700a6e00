/**
 * One MQTT 5 client connection, translated to MQTT 3.1.1 for aedes (which speaks only 3.1.1) and back.
 *
 *   socket (v5 bytes) ──parse v5──▶ check, resolve aliases, admit publishes ──generate v4──▶ aedes
 *   socket ◀──generate v5── reason codes, CONNACK properties ◀──parse v4── aedes
 *
 * aedes sees an ordinary 3.1.1 client with the same client id, so subscriptions, retained messages, wills,
 * keep-alive, persistent sessions and delivery between 3.1.1 and 5 clients are aedes's own. What MQTT 5 adds on
 * top is done here: reason codes on every acknowledgement, CONNACK properties as IoT Core sends them, topic
 * aliases, session expiry, and publishes refused with a PUBACK reason code instead of a dropped connection.
 *
 * Publishes are admitted (size and QoS checks, then the rules engine) here, before aedes: a QoS 1 publish the
 * rule refuses gets PUBACK 0x80 and never reaches subscribers. Packets go on to aedes in the order they arrived,
 * while the rule checks of several publishes run at once (as aedes runs a whole read chunk at once).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { IOT_MESSAGE_MAX_BYTES } from '@alleycat/schema';
import type { Aedes } from 'aedes';
import mqttPacket, {
  type IConnackPacket,
  type IConnectPacket,
  type IDisconnectPacket,
  type IPublishPacket,
  type ISubscribePacket,
  type Packet,
} from 'mqtt-packet';
import {
  MAX_QUEUED_PACKETS,
  MAX_SESSION_EXPIRY_SECONDS,
  MAXIMUM_PACKET_SIZE,
  MAXIMUM_QOS,
  RECEIVE_MAXIMUM,
  TOPIC_ALIAS_MAXIMUM,
} from './constants.js';
import { duplexPair } from './duplex-pair.js';
import { Mqtt5ProtocolError } from './errors.js';
import { connackReasonCode, ReasonCode, subackReasonCode } from './reason-codes.js';
import { connectedClient, type SessionExpiry } from './session-expiry.js';
import {
  iotTopicProblem,
  isSharedSubscription,
  isValidTopicFilter,
  isValidTopicName,
  willTopicProblem,
} from './topics.js';

/** What the adapter needs from the broker it fronts. */
export interface Mqtt5BrokerHooks {
  aedes: Aedes;
  sessions: SessionExpiry;
  /** The broker's publish checks and rules; resolves to a PUBACK reason code (0 = accepted) and its reason. */
  admit(clientId: string, publish: IPublishPacket): Promise<{ reasonCode: number; reason?: string }>;
  /** This connection broke a rule and is being closed (its lifecycle event says `CLIENT_ERROR`). */
  clientError(brokerSide: Duplex, clientId: string): void;
  /** The keep-alive the broker applies to a CONNECT's requested one (IoT Core's bounds). */
  keepalive(requested: number | undefined): number;
  /** A publish refused as IoT Core refuses it (counted with the 3.1.1 refusals). */
  refused(kind: 'qos2' | 'tooLarge'): void;
  /** The stream aedes reads this connection from, and the connection's side of the broker's hooks. */
  register(brokerSide: Duplex, link: Mqtt5Link): void;
}

/** A publish as aedes carries it: MQTT 5 properties and an absolute expiry ride along (aedes-packet keeps both). */
export interface BrokerPublish {
  topic: string;
  payload: Buffer | string;
  properties?: ForwardedProperties;
  /** Epoch ms after which the message is not delivered (MQTT 5 Message Expiry Interval). */
  messageExpiry?: number;
}

/** The PUBLISH properties IoT Core forwards from publisher to subscribers. */
export type ForwardedProperties = Pick<
  NonNullable<IPublishPacket['properties']>,
  'payloadFormatIndicator' | 'contentType' | 'responseTopic' | 'correlationData' | 'userProperties'
>;

/** What the broker's aedes hooks call on the connection a client object belongs to. */
export interface Mqtt5Link {
  /** aedes has unregistered the client: its session may start to expire. */
  unregistered(): void;
  /** authorizePublish of one of this connection's publishes: attach the properties the 3.1.1 hop dropped. */
  attach(publish: BrokerPublish): void;
  /** authorizePublish of this connection's will: attach the will's properties. */
  attachWill(will: BrokerPublish): void;
  /** authorizeForward towards this connection: remember the properties for the PUBLISH aedes is about to send. */
  forwarding(publish: BrokerPublish): void;
}

/** Counters of what MQTT 5 translation dropped or refused, across all connections. */
export interface Mqtt5Stats {
  connections: number;
  /** Publishes whose topic name was given by a topic alias alone (empty topic name). */
  aliasedPublishes: number;
  publishesRefused: number;
  oversizedDeliveriesDropped: number;
  protocolErrors: number;
}

interface QueueEntry {
  ready: boolean;
  toBroker?: Packet;
  /** For a publish going to aedes: what `attach` gives back once aedes parsed it. */
  carried?: Carried;
  toClient?: Packet;
  error?: Mqtt5ProtocolError;
  after?: () => void;
}

const WRITE_V5 = { protocolVersion: 5 };
/** Deliveries remembered by `forwarding` but not (yet) seen on the wire; past this the oldest are forgotten. */
const MAX_FORWARDING = 1024;
/** IoT Core: "the minimum MEI is 1 … The maximum message expiry interval is 604800 (7 days)". */
const MESSAGE_EXPIRY_RANGE = { min: 1, max: 604_800 };

interface Carried {
  topic: string;
  properties: ForwardedProperties | undefined;
  messageExpiry: number | undefined;
}

function clampExpiry(seconds: number): number {
  return Math.min(Math.max(seconds, MESSAGE_EXPIRY_RANGE.min), MESSAGE_EXPIRY_RANGE.max);
}

/**
 * The name of a property mqtt-packet could not read, or undefined. For a string cut short by the packet's end it
 * hands back null instead of failing the packet; passed on, that null crashed the generator on the way out.
 */
function unreadableProperty(properties: object | undefined): string | undefined {
  if (properties === undefined || properties === null) return undefined;
  for (const [name, value] of Object.entries(properties)) {
    if (value === null) return name;
    if (name === 'userProperties' && typeof value === 'object') {
      for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
        const values = Array.isArray(v) ? v : [v];
        if (values.some((one) => typeof one !== 'string')) return `userProperties[${JSON.stringify(key)}]`;
      }
    }
  }
  return undefined;
}

function forwardedProperties(properties: IPublishPacket['properties']): ForwardedProperties | undefined {
  if (properties === undefined) return undefined;
  const out: ForwardedProperties = {};
  if (properties.payloadFormatIndicator !== undefined)
    out.payloadFormatIndicator = properties.payloadFormatIndicator;
  if (properties.contentType !== undefined) out.contentType = properties.contentType;
  if (properties.responseTopic !== undefined) out.responseTopic = properties.responseTopic;
  if (properties.correlationData !== undefined) out.correlationData = properties.correlationData;
  if (properties.userProperties !== undefined) out.userProperties = properties.userProperties;
  return Object.keys(out).length > 0 ? out : undefined;
}

export class Mqtt5Connection {
  readonly #socket: Duplex;
  readonly #hooks: Mqtt5BrokerHooks;
  readonly #stats: Mqtt5Stats;
  readonly #brokerSide: Duplex;
  readonly #adapterSide: Duplex;
  readonly #fromClient = mqttPacket.parser({ protocolVersion: 5 });
  readonly #fromBroker = mqttPacket.parser({ protocolVersion: 4 });
  readonly #queue: QueueEntry[] = [];
  readonly #aliases = new Map<number, string>();
  readonly #pendingSubacks = new Map<number, Array<number | undefined>>();
  readonly #pendingUnsubacks = new Map<number, number>();
  /** Properties of publishes written to aedes, in order, until authorizePublish takes them back. */
  readonly #carried: Carried[] = [];
  /** Properties of deliveries aedes decided to send here, until their PUBLISH comes out of aedes. */
  readonly #forwarding: BrokerPublish[] = [];

  #willCarried: { properties: ForwardedProperties | undefined; interval: number | undefined } | undefined;
  #clientId = '';
  #connectSeen = false;
  #connackSent = false;
  #persistent = false;
  #sessionExpiry = 0;
  #assignedClientId: string | undefined;
  #adjustedSessionExpiry: number | undefined;
  #adjustedKeepalive: number | undefined;
  #keepalive = 0;
  #lastReceived = Date.now();
  #maxPacketToClient = Number.POSITIVE_INFINITY;
  #problemInformation = true;
  #inflight = 0;
  #clientDisconnected = false;
  #closing = false;

  constructor(
    socket: Duplex,
    head: Buffer,
    hooks: Mqtt5BrokerHooks,
    stats: Mqtt5Stats,
    request?: IncomingMessage,
  ) {
    this.#socket = socket;
    this.#hooks = hooks;
    this.#stats = stats;
    stats.connections += 1;
    [this.#brokerSide, this.#adapterSide] = duplexPair();
    hooks.register(this.#brokerSide, {
      unregistered: () => this.#unregistered(),
      attach: (publish) => this.#attach(publish),
      attachWill: (will) => {
        if (this.#willCarried?.properties !== undefined) will.properties = this.#willCarried.properties;
        // The will's expiry interval starts when the will is published (IoT Core: "after the client disconnects").
        if (this.#willCarried?.interval !== undefined)
          will.messageExpiry = Date.now() + 1000 * this.#willCarried.interval;
      },
      forwarding: (publish) => this.#remember(publish),
    });

    this.#fromClient.on('packet', (packet) => this.#onClientPacket(packet));
    this.#fromClient.on('error', (error: Error) =>
      this.#fail(
        new Mqtt5ProtocolError(ReasonCode.MalformedPacket, `malformed MQTT 5 packet: ${error.message}`),
      ),
    );
    this.#fromBroker.on('packet', (packet) => this.#onBrokerPacket(packet));
    this.#fromBroker.on('error', () => this.#destroy());

    socket.on('data', (chunk: Buffer) => {
      this.#lastReceived = Date.now();
      if (!this.#closing) this.#fromClient.parse(chunk);
    });
    socket.on('error', () => this.#destroy());
    socket.on('close', () => this.#destroy());
    this.#adapterSide.on('data', (chunk: Buffer) => this.#fromBroker.parse(chunk));
    this.#adapterSide.on('end', () => this.#brokerEnded());
    this.#adapterSide.on('error', () => this.#destroy());

    hooks.aedes.handle(this.#brokerSide, request);
    this.#fromClient.parse(head);
  }

  // ── client → broker ────────────────────────────────────────────────────────────────────────────────────────

  #onClientPacket(packet: Packet) {
    if (this.#closing) return;
    if (!this.#connectSeen && packet.cmd !== 'connect')
      return this.#fail(new Mqtt5ProtocolError(ReasonCode.ProtocolError, `${packet.cmd} before CONNECT`));
    try {
      const unreadable =
        unreadableProperty((packet as { properties?: object }).properties) ??
        (packet.cmd === 'connect' ? unreadableProperty(packet.will?.properties) : undefined);
      if (unreadable !== undefined)
        throw new Mqtt5ProtocolError(
          ReasonCode.MalformedPacket,
          `malformed MQTT 5 ${packet.cmd}: property ${unreadable} runs past the end of the packet`,
        );
      switch (packet.cmd) {
        case 'connect':
          return this.#onConnect(packet);
        case 'publish':
          return this.#onPublish(packet);
        case 'puback':
          return this.#enqueue({ ready: true, toBroker: { cmd: 'puback', messageId: packet.messageId! } });
        case 'subscribe':
          return this.#onSubscribe(packet);
        case 'unsubscribe':
          this.#pendingUnsubacks.set(packet.messageId!, packet.unsubscriptions.length);
          return this.#enqueue({
            ready: true,
            toBroker: {
              cmd: 'unsubscribe',
              messageId: packet.messageId!,
              unsubscriptions: packet.unsubscriptions,
            },
          });
        case 'pingreq':
          return this.#enqueue({ ready: true, toBroker: { cmd: 'pingreq' } });
        case 'disconnect':
          return this.#onDisconnect(packet);
        default:
          // AUTH, and the QoS 2 flow (PUBREC/PUBREL/PUBCOMP): IoT Core supports neither.
          throw new Mqtt5ProtocolError(ReasonCode.ProtocolError, `${packet.cmd} is not supported (IoT Core)`);
      }
    } catch (error) {
      // Whatever a client sends ends at most its own connection, never the broker.
      this.#fail(
        error instanceof Mqtt5ProtocolError
          ? error
          : new Mqtt5ProtocolError(
              ReasonCode.UnspecifiedError,
              `could not handle ${packet.cmd}: ${String(error)}`,
            ),
      );
    }
  }

  #onConnect(packet: IConnectPacket) {
    if (this.#connectSeen) throw new Mqtt5ProtocolError(ReasonCode.ProtocolError, 'second CONNECT');
    this.#connectSeen = true;
    const properties = packet.properties ?? {};
    if (properties.authenticationMethod !== undefined)
      return this.#refuseConnect(
        ReasonCode.BadAuthenticationMethod,
        'enhanced authentication (AUTH) is not supported',
      );
    if ((packet.will?.qos ?? 0) > MAXIMUM_QOS)
      return this.#refuseConnect(ReasonCode.QosNotSupported, 'will QoS 2 is not supported');
    if (packet.will !== undefined && Buffer.byteLength(packet.will.payload) > IOT_MESSAGE_MAX_BYTES)
      return this.#refuseConnect(
        ReasonCode.PacketTooLarge,
        `will payload exceeds ${IOT_MESSAGE_MAX_BYTES} bytes`,
      );
    if (packet.will !== undefined) {
      // A will is a publish to come: its topic follows the publish rules (no wildcards, IoT Core's quotas).
      const topic = packet.will.topic;
      const problem = willTopicProblem(topic);
      if (problem !== undefined)
        return this.#refuseConnect(
          ReasonCode.TopicNameInvalid,
          `will topic ${JSON.stringify(topic)} ${problem}`,
        );
    }

    let clientId = packet.clientId;
    if (clientId === '') {
      // As IoT Core does: a new, unused id, returned as the Assigned Client Identifier.
      clientId = `alleycat-${randomUUID()}`;
      this.#assignedClientId = clientId;
    }
    this.#clientId = clientId;
    const requested = properties.sessionExpiryInterval ?? 0;
    this.#sessionExpiry = Math.min(requested, MAX_SESSION_EXPIRY_SECONDS);
    if (requested > MAX_SESSION_EXPIRY_SECONDS) this.#adjustedSessionExpiry = MAX_SESSION_EXPIRY_SECONDS;
    this.#keepalive = this.#hooks.keepalive(packet.keepalive);
    if (this.#keepalive !== packet.keepalive) this.#adjustedKeepalive = this.#keepalive;
    if (properties.maximumPacketSize !== undefined) this.#maxPacketToClient = properties.maximumPacketSize;
    if (properties.requestProblemInformation === false) this.#problemInformation = false;
    const cleanStart = packet.clean !== false;
    // 3.1.1's clean session = MQTT 5's Clean Start with a session that ends with the connection.
    this.#persistent = !(cleanStart && this.#sessionExpiry === 0);
    this.#hooks.sessions.cancel(clientId);

    const connect: IConnectPacket = {
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clientId,
      clean: !this.#persistent,
      keepalive: this.#keepalive,
    };
    if (packet.username !== undefined) connect.username = packet.username;
    if (packet.password !== undefined) connect.password = packet.password;
    if (packet.will !== undefined) {
      // Will properties are kept here and attached when aedes publishes the will (Will Delay is not supported).
      const { topic, payload, qos, retain, properties: willProperties } = packet.will;
      connect.will = { topic, payload, qos: qos ?? 0, retain: retain ?? false };
      const interval = willProperties?.messageExpiryInterval;
      this.#willCarried = {
        properties: forwardedProperties(willProperties),
        interval: interval === undefined ? undefined : clampExpiry(interval),
      };
    }
    if (cleanStart && this.#persistent) {
      // Clean Start with a session that outlives the connection: end any old session first, then resume none.
      const slot: QueueEntry = { ready: false };
      this.#hooks.sessions.end(clientId).then(
        () => this.#settle(slot, { toBroker: connect }),
        () => this.#settle(slot, { toBroker: connect }),
      );
      return this.#enqueue(slot);
    }
    this.#enqueue({ ready: true, toBroker: connect });
  }

  #onPublish(packet: IPublishPacket) {
    if (packet.qos > MAXIMUM_QOS) {
      this.#hooks.refused('qos2');
      throw new Mqtt5ProtocolError(
        ReasonCode.QosNotSupported,
        'QoS 2 is not supported (IoT Core: QoS 0 and 1 only)',
      );
    }
    const topic = this.#resolveAlias(packet);
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    if (payload.length > IOT_MESSAGE_MAX_BYTES || (packet.length ?? 0) > MAXIMUM_PACKET_SIZE) {
      this.#hooks.refused('tooLarge');
      throw new Mqtt5ProtocolError(
        ReasonCode.PacketTooLarge,
        `payload of ${payload.length} bytes exceeds ${IOT_MESSAGE_MAX_BYTES} (or packet exceeds ${MAXIMUM_PACKET_SIZE})`,
      );
    }
    const messageId = packet.messageId;
    if (packet.qos === 1) {
      this.#inflight += 1;
      if (this.#inflight > RECEIVE_MAXIMUM)
        throw new Mqtt5ProtocolError(
          ReasonCode.ReceiveMaximumExceeded,
          `more than ${RECEIVE_MAXIMUM} QoS 1 publishes awaiting PUBACK`,
        );
    }
    if (!isValidTopicName(topic) || iotTopicProblem(topic) !== undefined) {
      if (packet.qos === 0)
        throw new Mqtt5ProtocolError(
          ReasonCode.TopicNameInvalid,
          `topic ${JSON.stringify(topic)} is not valid`,
        );
      this.#inflight -= 1;
      return this.#enqueue({
        ready: true,
        toClient: this.#puback(messageId!, ReasonCode.TopicNameInvalid, 'topic name is not valid'),
      });
    }
    const publish: IPublishPacket = {
      cmd: 'publish',
      topic,
      payload,
      qos: packet.qos,
      retain: packet.retain,
      dup: packet.dup,
    };
    if (messageId !== undefined) publish.messageId = messageId;
    const interval = packet.properties?.messageExpiryInterval;
    const carried: Carried = {
      topic,
      properties: forwardedProperties(packet.properties),
      messageExpiry: interval === undefined ? undefined : Date.now() + 1000 * clampExpiry(interval),
    };
    const slot: QueueEntry = { ready: false };
    this.#hooks.admit(this.#clientId, publish).then(
      ({ reasonCode, reason }) => {
        if (reasonCode === ReasonCode.Success) return this.#settle(slot, { toBroker: publish, carried });
        this.#stats.publishesRefused += 1;
        if (packet.qos === 0)
          return this.#settle(slot, {
            error: new Mqtt5ProtocolError(reasonCode, reason ?? 'publish refused'),
          });
        this.#inflight -= 1;
        this.#settle(slot, { toClient: this.#puback(messageId!, reasonCode, reason) });
      },
      (error: unknown) =>
        this.#settle(slot, { error: new Mqtt5ProtocolError(ReasonCode.UnspecifiedError, String(error)) }),
    );
    this.#enqueue(slot);
  }

  /** Topic aliases, client → server (MQTT 5.0 § 3.3.2.3.4), up to IoT Core's 8 per connection. */
  #resolveAlias(packet: IPublishPacket): string {
    const alias = packet.properties?.topicAlias;
    if (alias === undefined) return packet.topic;
    if (alias === 0 || alias > TOPIC_ALIAS_MAXIMUM)
      throw new Mqtt5ProtocolError(
        ReasonCode.TopicAliasInvalid,
        `topic alias ${alias} is outside 1..${TOPIC_ALIAS_MAXIMUM}`,
      );
    if (packet.topic !== '') {
      this.#aliases.set(alias, packet.topic);
      return packet.topic;
    }
    const topic = this.#aliases.get(alias);
    this.#stats.aliasedPublishes += 1;
    if (topic === undefined)
      throw new Mqtt5ProtocolError(
        ReasonCode.ProtocolError,
        `topic alias ${alias} was never set on this connection`,
      );
    return topic;
  }

  #onSubscribe(packet: ISubscribePacket) {
    if (packet.properties?.subscriptionIdentifier !== undefined)
      throw new Mqtt5ProtocolError(
        ReasonCode.SubscriptionIdentifiersNotSupported,
        'subscription identifiers are not supported (IoT Core)',
      );
    const codes: Array<number | undefined> = [];
    const accepted: ISubscribePacket['subscriptions'] = [];
    for (const subscription of packet.subscriptions) {
      if (isSharedSubscription(subscription.topic)) codes.push(ReasonCode.SharedSubscriptionsNotSupported);
      else if (!isValidTopicFilter(subscription.topic) || iotTopicProblem(subscription.topic) !== undefined)
        codes.push(ReasonCode.TopicFilterInvalid);
      else {
        codes.push(undefined);
        // QoS 2 is granted as QoS 1 (Maximum QoS 1); No Local, Retain As Published and Retain Handling are dropped.
        accepted.push({ topic: subscription.topic, qos: Math.min(subscription.qos, MAXIMUM_QOS) as 0 | 1 });
      }
    }
    const messageId = packet.messageId!;
    if (accepted.length === 0)
      return this.#enqueue({
        ready: true,
        toClient: { cmd: 'suback', messageId, granted: codes as number[] },
      });
    this.#pendingSubacks.set(messageId, codes);
    this.#enqueue({ ready: true, toBroker: { cmd: 'subscribe', messageId, subscriptions: accepted } });
  }

  #onDisconnect(packet: IDisconnectPacket) {
    const expiry = packet.properties?.sessionExpiryInterval;
    if (expiry !== undefined) {
      if (this.#sessionExpiry === 0 && expiry > 0)
        throw new Mqtt5ProtocolError(
          ReasonCode.ProtocolError,
          'DISCONNECT sets a session expiry on a connection that asked for none',
        );
      this.#sessionExpiry = Math.min(expiry, MAX_SESSION_EXPIRY_SECONDS);
    }
    this.#clientDisconnected = true;
    if (packet.reasonCode === ReasonCode.DisconnectWithWill) {
      // No 3.1.1 DISCONNECT: aedes sees the connection drop and publishes the will, as the client asked.
      return this.#enqueue({ ready: true, after: () => this.#destroy() });
    }
    this.#enqueue({ ready: true, toBroker: { cmd: 'disconnect' }, after: () => this.#socket.end() });
  }

  // ── broker → client ────────────────────────────────────────────────────────────────────────────────────────

  #onBrokerPacket(packet: Packet) {
    switch (packet.cmd) {
      case 'connack':
        return this.#onConnack(packet);
      case 'publish': {
        const publish: IPublishPacket = {
          cmd: 'publish',
          topic: packet.topic,
          payload: packet.payload,
          qos: packet.qos,
          retain: packet.retain,
          dup: packet.dup,
        };
        if (packet.messageId !== undefined) publish.messageId = packet.messageId;
        const forwarded = this.#takeForwarding(packet);
        if (forwarded !== undefined) {
          const properties: NonNullable<IPublishPacket['properties']> = { ...forwarded.properties };
          if (forwarded.messageExpiry !== undefined)
            // The time left, in whole seconds: 0 once 999 ms or less remain, as IoT Core sends it.
            properties.messageExpiryInterval = Math.max(
              0,
              Math.floor((forwarded.messageExpiry - Date.now()) / 1000),
            );
          if (Object.keys(properties).length > 0) publish.properties = properties;
        }
        let bytes: Buffer;
        try {
          bytes = mqttPacket.generate(publish, WRITE_V5);
        } catch {
          // Nothing a publisher sent gets here unchecked; should it, the delivery is dropped, not the broker.
          this.#stats.oversizedDeliveriesDropped += 1;
          if (packet.qos === 1) this.#toBroker({ cmd: 'puback', messageId: packet.messageId! });
          return;
        }
        if (bytes.length > this.#maxPacketToClient) {
          // MQTT 5.0 § 3.1.2.11.4: the server discards what the client cannot take, as if it had been delivered.
          this.#stats.oversizedDeliveriesDropped += 1;
          if (packet.qos === 1) this.#toBroker({ cmd: 'puback', messageId: packet.messageId! });
          return;
        }
        this.#write(bytes);
        return;
      }
      case 'puback':
        this.#inflight -= 1;
        return this.#toClient(this.#puback(packet.messageId!, ReasonCode.Success));
      case 'suback': {
        const codes = this.#pendingSubacks.get(packet.messageId!) ?? [];
        this.#pendingSubacks.delete(packet.messageId!);
        const granted = packet.granted as number[];
        let next = 0;
        const merged = codes.map(
          (code) => code ?? subackReasonCode(granted[next++] ?? ReasonCode.UnspecifiedError),
        );
        return this.#toClient({ cmd: 'suback', messageId: packet.messageId!, granted: merged });
      }
      case 'unsuback': {
        // 3.1.1 UNSUBACK carries no codes; aedes removes what exists and ignores the rest: Success for each.
        const count = this.#pendingUnsubacks.get(packet.messageId!) ?? 1;
        this.#pendingUnsubacks.delete(packet.messageId!);
        return this.#toClient({
          cmd: 'unsuback',
          messageId: packet.messageId!,
          granted: new Array<number>(count).fill(ReasonCode.Success),
        });
      }
      case 'pingresp':
        return this.#toClient({ cmd: 'pingresp' });
      default:
        // aedes sends nothing else to a client that never publishes or subscribes with QoS 2.
        return;
    }
  }

  #onConnack(packet: IConnackPacket) {
    const reasonCode = connackReasonCode(packet.returnCode ?? 0);
    const properties: NonNullable<IConnackPacket['properties']> = {
      receiveMaximum: RECEIVE_MAXIMUM,
      maximumQoS: MAXIMUM_QOS,
      retainAvailable: true,
      maximumPacketSize: MAXIMUM_PACKET_SIZE,
      topicAliasMaximum: TOPIC_ALIAS_MAXIMUM,
      wildcardSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: false,
      sharedSubscriptionAvailable: false,
    };
    if (this.#assignedClientId !== undefined) properties.assignedClientIdentifier = this.#assignedClientId;
    if (this.#adjustedSessionExpiry !== undefined)
      properties.sessionExpiryInterval = this.#adjustedSessionExpiry;
    if (this.#adjustedKeepalive !== undefined) properties.serverKeepAlive = this.#adjustedKeepalive;
    this.#connackSent = reasonCode === ReasonCode.Success;
    this.#toClient({ cmd: 'connack', reasonCode, sessionPresent: packet.sessionPresent, properties });
  }

  // ── properties around the 3.1.1 hop ──────────────────────────────────────────────────────────────────────

  #attach(publish: BrokerPublish) {
    const carried = this.#carried.shift();
    if (carried === undefined || carried.topic !== publish.topic) {
      // Out of step (cannot happen while aedes handles publishes in arrival order): carry nothing rather than
      // the wrong message's properties.
      this.#carried.length = 0;
      return;
    }
    if (carried.properties !== undefined) publish.properties = carried.properties;
    if (carried.messageExpiry !== undefined) publish.messageExpiry = carried.messageExpiry;
  }

  #remember(publish: BrokerPublish) {
    if (publish.properties === undefined && publish.messageExpiry === undefined) return;
    this.#forwarding.push(publish);
    if (this.#forwarding.length > MAX_FORWARDING) this.#forwarding.shift();
  }

  /** The remembered delivery this PUBLISH from aedes is (same topic and payload; nearly always the first). */
  #takeForwarding(packet: IPublishPacket): BrokerPublish | undefined {
    const payload = packet.payload as Buffer;
    const index = this.#forwarding.findIndex(
      (candidate) =>
        candidate.topic === packet.topic &&
        (typeof candidate.payload === 'string'
          ? candidate.payload === payload.toString()
          : candidate.payload.equals(payload)),
    );
    if (index < 0) return undefined;
    return this.#forwarding.splice(index, 1)[0];
  }

  // ── plumbing ───────────────────────────────────────────────────────────────────────────────────────────────

  #puback(messageId: number, reasonCode: number, reason?: string): Packet {
    const puback: Packet = { cmd: 'puback', messageId, reasonCode };
    if (reason !== undefined && reasonCode !== ReasonCode.Success && this.#problemInformation)
      puback.properties = { reasonString: reason.slice(0, 1024) };
    return puback;
  }

  #enqueue(entry: QueueEntry) {
    this.#queue.push(entry);
    this.#flush();
    if (this.#queue.length > MAX_QUEUED_PACKETS) this.#socket.pause();
  }

  #settle(slot: QueueEntry, outcome: Omit<QueueEntry, 'ready'>) {
    Object.assign(slot, outcome);
    slot.ready = true;
    this.#flush();
  }

  /** Hands finished entries on in arrival order; a publish still at the rules engine holds back what follows. */
  #flush() {
    while (this.#queue.length > 0 && this.#queue[0]!.ready && !this.#closing) {
      const entry = this.#queue.shift()!;
      if (entry.error !== undefined) return this.#fail(entry.error);
      if (entry.carried !== undefined) this.#carried.push(entry.carried);
      if (entry.toBroker !== undefined) this.#toBroker(entry.toBroker);
      if (entry.toClient !== undefined) this.#toClient(entry.toClient);
      entry.after?.();
    }
    if (this.#queue.length <= MAX_QUEUED_PACKETS / 4 && this.#socket.isPaused()) this.#socket.resume();
  }

  #toBroker(packet: Packet) {
    if (this.#adapterSide.destroyed || this.#adapterSide.writableEnded) return;
    this.#adapterSide.write(mqttPacket.generate(packet));
  }

  #toClient(packet: Packet) {
    this.#write(mqttPacket.generate(packet, WRITE_V5));
  }

  #write(bytes: Buffer) {
    if (!this.#socket.destroyed && this.#socket.writable) this.#socket.write(bytes);
  }

  /** Refuses the CONNECT itself (before aedes hears of it): CONNACK with the reason, then close. */
  #refuseConnect(reasonCode: number, reason: string) {
    this.#closing = true;
    this.#stats.protocolErrors += 1;
    this.#write(
      mqttPacket.generate(
        { cmd: 'connack', reasonCode, sessionPresent: false, properties: { reasonString: reason } },
        WRITE_V5,
      ),
    );
    this.#endSocket();
  }

  /** This connection broke the protocol: tell it why (CONNACK or DISCONNECT with the reason code) and close it. */
  #fail(error: Mqtt5ProtocolError) {
    if (this.#closing) return;
    this.#closing = true;
    this.#stats.protocolErrors += 1;
    const properties = this.#problemInformation ? { reasonString: error.message.slice(0, 1024) } : {};
    const packet: Packet = this.#connackSent
      ? { cmd: 'disconnect', reasonCode: error.reasonCode, properties }
      : { cmd: 'connack', reasonCode: error.reasonCode, sessionPresent: false, properties };
    this.#write(mqttPacket.generate(packet, WRITE_V5));
    this.#endSocket();
    if (this.#connackSent) this.#hooks.clientError(this.#brokerSide, this.#clientId);
    // The client is gone for aedes too; without a 3.1.1 DISCONNECT it publishes the will, as on IoT Core.
    this.#endBrokerSide();
  }

  /** aedes closed its side: tell an MQTT 5 client why, as IoT Core does (MQTT 5.0 § 3.14: server DISCONNECT). */
  #brokerEnded() {
    if (this.#closing || this.#clientDisconnected) return this.#endSocket();
    this.#closing = true;
    if (!this.#connackSent) return this.#endSocket();
    const aedes = this.#hooks.aedes;
    const current = connectedClient(aedes, this.#clientId);
    let reasonCode: number = ReasonCode.UnspecifiedError;
    if (current !== undefined && current.conn !== this.#brokerSide) reasonCode = ReasonCode.SessionTakenOver;
    else if (aedes.closed) reasonCode = ReasonCode.ServerShuttingDown;
    else if (this.#keepalive > 0 && Date.now() - this.#lastReceived >= this.#keepalive * 1500)
      reasonCode = ReasonCode.KeepAliveTimeout;
    this.#write(mqttPacket.generate({ cmd: 'disconnect', reasonCode }, WRITE_V5));
    this.#endSocket();
  }

  /** aedes has finished with the client (unregistered it): now its session starts to expire. */
  #unregistered() {
    if (!this.#connackSent || !this.#persistent) return;
    this.#hooks.sessions.schedule(this.#clientId, this.#sessionExpiry);
  }

  #endSocket() {
    if (this.#socket.destroyed) return;
    this.#socket.end();
    // A client that does not close its side after our DISCONNECT is cut off.
    setTimeout(() => this.#socket.destroy(), 2_000).unref();
  }

  /** Ends the stream to aedes after what was written (a DISCONNECT still reaches aedes before the end). */
  #endBrokerSide() {
    if (!this.#adapterSide.writableEnded && !this.#adapterSide.destroyed) this.#adapterSide.end();
  }

  #destroy() {
    this.#closing = true;
    this.#endBrokerSide();
    if (!this.#socket.destroyed) this.#socket.destroy();
  }
}
