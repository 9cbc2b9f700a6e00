/**
 * IoT Core's connect and disconnect lifecycle events (developer guide, "Lifecycle events"): a JSON message on
 * `$aws/events/presence/connected/{clientId}` when a client connects and on
 * `$aws/events/presence/disconnected/{clientId}` when it goes, with why — so presence logic built on them runs
 * locally as on AWS. Not emitted: the subscribe/unsubscribe events (`$aws/events/subscriptions/…`).
 * `principalIdentifier` is `local-stack` (there are no certificates here).
 */
import { randomUUID } from 'node:crypto';
import type { Aedes, Client } from 'aedes';

export const PRESENCE_TOPIC_PREFIX = '$aws/events/presence';
/** What stands for the certificate id or IAM identity IoT Core reports. */
export const LOCAL_PRINCIPAL = 'local-stack';

/** IoT Core's `disconnectReason` values this broker can tell apart. */
export type DisconnectReason =
  | 'CLIENT_INITIATED_DISCONNECT'
  | 'MQTT_KEEP_ALIVE_TIMEOUT'
  | 'DUPLICATE_CLIENTID'
  | 'CLIENT_ERROR'
  | 'SERVER_INITIATED_DISCONNECT'
  | 'CONNECTION_LOST';

export interface LifecycleEvents {
  /** Why this client's connection is about to end (the first reason given wins). */
  ending(client: Client, reason: DisconnectReason): void;
}

interface Session {
  sessionIdentifier: string;
  versionNumber: number;
}

/**
 * Publishes the presence events of every client aedes registers, except the broker's own connections
 * (`isInternal`: session expiry's, the IoT data plane's — HTTP publishes have no MQTT connection on AWS).
 */
export function publishLifecycleEvents(
  aedes: Aedes,
  isInternal: (client: Client) => boolean,
): LifecycleEvents {
  const sessions = new WeakMap<Client, Session>();
  const reasons = new WeakMap<Client, DisconnectReason>();
  // "Monotonically increasing for each client ID connection": a subscriber can order the events of an id.
  const versions = new Map<string, number>();
  const publish = (kind: 'connected' | 'disconnected', client: Client, body: object) =>
    aedes.publish(
      {
        cmd: 'publish',
        topic: `${PRESENCE_TOPIC_PREFIX}/${kind}/${client.id}`,
        payload: Buffer.from(JSON.stringify(body)),
        qos: 1,
        retain: false,
        dup: false,
      },
      () => {},
    );
  const ending = (client: Client, reason: DisconnectReason) => {
    if (!reasons.has(client)) reasons.set(client, reason);
  };

  aedes.on('client', (client) => {
    // "Client IDs that contain # or + do not receive lifecycle events" (IoT developer guide, Lifecycle events):
    // a wildcard cannot be part of a topic name.
    if (isInternal(client) || /[+#]/.test(client.id)) return;
    const versionNumber = versions.get(client.id) ?? 0;
    versions.set(client.id, versionNumber + 1);
    const session = { sessionIdentifier: randomUUID().replaceAll('-', ''), versionNumber };
    sessions.set(client, session);
    const conn = client.conn as { remoteAddress?: string };
    publish('connected', client, {
      clientId: client.id,
      timestamp: Date.now(),
      eventType: 'connected',
      sessionIdentifier: session.sessionIdentifier,
      principalIdentifier: LOCAL_PRINCIPAL,
      ipAddress: conn.remoteAddress ?? '127.0.0.1',
      versionNumber: session.versionNumber,
    });
  });
  aedes.on('keepaliveTimeout', (client) => ending(client, 'MQTT_KEEP_ALIVE_TIMEOUT'));
  aedes.on('clientDisconnect', (client) => {
    const session = sessions.get(client);
    if (session === undefined) return;
    // aedes marks a client that sent DISCONNECT; everything else without a reason given is a lost connection.
    const clean = (client as unknown as { _disconnected?: boolean })._disconnected === true;
    const reason = clean ? 'CLIENT_INITIATED_DISCONNECT' : (reasons.get(client) ?? 'CONNECTION_LOST');
    publish('disconnected', client, {
      clientId: client.id,
      timestamp: Date.now(),
      eventType: 'disconnected',
      sessionIdentifier: session.sessionIdentifier,
      principalIdentifier: LOCAL_PRINCIPAL,
      clientInitiatedDisconnect: reason === 'CLIENT_INITIATED_DISCONNECT',
      disconnectReason: reason,
      versionNumber: session.versionNumber,
    });
  });
  return { ending };
}
