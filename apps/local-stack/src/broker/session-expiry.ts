/**
 * MQTT 5 session expiry on top of aedes, which keeps a 3.1.1 persistent session (clean = false) forever.
 * A session is ended the way a 3.1.1 client ends one: a CONNECT with clean = true under the same client id,
 * then DISCONNECT — through `aedes.handle`, so aedes's own code drops the subscriptions and queued messages.
 */
import type { Aedes } from 'aedes';
import mqttPacket from 'mqtt-packet';
import { duplexPair } from './duplex-pair.js';

/** The client aedes has registered under `clientId` (aedes's types do not declare `clients`). */
export function connectedClient(aedes: Aedes, clientId: string): { conn: unknown } | undefined {
  return (aedes as unknown as { clients: Record<string, { conn: unknown } | undefined> }).clients[clientId];
}

export class SessionExpiry {
  readonly #aedes: Aedes;
  readonly #timers = new Map<string, NodeJS.Timeout>();
  /** The connections this uses to end sessions (not clients: no lifecycle events for them). */
  readonly internal = new WeakSet<object>();

  constructor(aedes: Aedes) {
    this.#aedes = aedes;
  }

  /** A client with this id connected again: its session lives on. */
  cancel(clientId: string): void {
    const timer = this.#timers.get(clientId);
    if (timer !== undefined) clearTimeout(timer);
    this.#timers.delete(clientId);
  }

  /** The connection of `clientId` ended: end its session after `seconds` unless it is connected again by then. */
  schedule(clientId: string, seconds: number): void {
    this.cancel(clientId);
    if (seconds <= 0) {
      void this.endIfOffline(clientId);
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(clientId);
      void this.endIfOffline(clientId);
    }, seconds * 1000);
    timer.unref();
    this.#timers.set(clientId, timer);
  }

  /**
   * Ends the session unless a client with that id is connected. Checked on the next turn of the event loop:
   * when a new connection takes a client id over, aedes unregisters the old client just before registering
   * the new one, and that session is the new connection's to keep.
   */
  async endIfOffline(clientId: string): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    if (connectedClient(this.#aedes, clientId) !== undefined || this.#aedes.closed) return;
    await this.end(clientId);
  }

  /** Ends the session of `clientId` now (taking over a live connection with that id, as any CONNECT would). */
  end(clientId: string): Promise<void> {
    const [ours, theirs] = duplexPair();
    return new Promise<void>((resolve) => {
      const parser = mqttPacket.parser({ protocolVersion: 4 });
      parser.on('packet', (packet) => {
        if (packet.cmd === 'connack') ours.end(mqttPacket.generate({ cmd: 'disconnect' }));
      });
      ours.on('data', (chunk: Buffer) => parser.parse(chunk));
      ours.on('close', () => resolve());
      ours.on('end', () => ours.destroy());
      ours.on('error', () => resolve());
      this.internal.add(theirs);
      this.#aedes.handle(theirs);
      ours.write(
        mqttPacket.generate({ cmd: 'connect', protocolVersion: 4, clientId, clean: true, keepalive: 0 }),
      );
    });
  }

  close(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }
}
