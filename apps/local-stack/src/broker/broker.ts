/**
 * The MQTT broker: aedes over TCP and MQTT-over-WebSocket, with the rules engine in its publish path. aedes
 * sends a QoS 1 PUBACK only after `authorizePublish` calls back (FIELD-NOTES), so the rule's action — Kinesis,
 * or the error action — has accepted the message before the publisher hears it was received. If even the
 * error action fails, the publish is refused (aedes closes the connection) and the client sends it again.
 * Like IoT Core, it refuses QoS 2 and payloads over 128 KiB by closing the publisher's connection.
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { IOT_MESSAGE_MAX_BYTES } from '@alleycat/schema';
import { Aedes } from 'aedes';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { closeServer, LOCALHOST, listenOn } from '../net.js';
import type { RuleEngine } from '../rules/rule-engine.js';

export interface BrokerOptions {
  /** MQTT over TCP; 0 = a free port. */
  port?: number;
  /** MQTT over WebSocket; 0 = a free port, null = no WebSocket listener. */
  wsPort?: number | null;
  rules?: RuleEngine;
}

export interface RunningBroker {
  aedes: Aedes;
  /** Publishes refused as IoT Core refuses them (the client is disconnected). */
  stats(): { refusedTooLarge: number; refusedQos2: number };
  mqttUrl: string;
  wsUrl?: string;
  close(): Promise<void>;
}

export async function startBroker(options: BrokerOptions = {}): Promise<RunningBroker> {
  const aedes = await Aedes.createBroker();
  const rules = options.rules;
  const counters = { refusedTooLarge: 0, refusedQos2: 0 };
  aedes.authorizePublish = (client, packet, callback) => {
    // Messages the broker publishes itself (client null) are not device traffic.
    if (client === null) return callback(null);
    // IoT Core's message broker: no QoS 2, payloads up to 128 KiB; it drops the connection otherwise.
    if (packet.qos === 2) {
      counters.refusedQos2 += 1;
      return callback(new Error(`client ${client.id}: QoS 2 is not supported (IoT Core: QoS 0 and 1 only)`));
    }
    if (packet.payload.length > IOT_MESSAGE_MAX_BYTES) {
      counters.refusedTooLarge += 1;
      return callback(
        new Error(
          `client ${client.id}: payload of ${packet.payload.length} bytes exceeds ${IOT_MESSAGE_MAX_BYTES}`,
        ),
      );
    }
    if (rules === undefined || !rules.matches(packet.topic)) return callback(null);
    rules.onMessage({ topic: packet.topic, payload: Buffer.from(packet.payload), clientId: client.id }).then(
      () => callback(null),
      (error: unknown) => callback(error as Error),
    );
  };
  const tcp: Server = createServer(aedes.handle);
  const port = await listenOn(tcp, 'MQTT broker (TCP)', options.port ?? 0);
  if (options.wsPort === null) return finish(aedes, tcp, port, undefined, async () => {}, counters);
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
  wss.on('connection', (socket, request) => {
    const stream = createWebSocketStream(socket);
    stream.on('error', () => socket.terminate());
    aedes.handle(stream, request);
  });
  let wsPort: number;
  try {
    wsPort = await listenOn(httpServer, 'MQTT broker (WebSocket)', options.wsPort ?? 0);
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
  );
}

function finish(
  aedes: Aedes,
  tcp: Server,
  port: number,
  wsUrl: string | undefined,
  closeWs: () => Promise<void>,
  counters: { refusedTooLarge: number; refusedQos2: number },
): RunningBroker {
  const running: RunningBroker = {
    aedes,
    stats: () => ({ ...counters }),
    mqttUrl: `mqtt://${LOCALHOST}:${port}`,
    async close() {
      await closeWs();
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await closeServer(tcp);
    },
  };
  if (wsUrl !== undefined) running.wsUrl = wsUrl;
  return running;
}
