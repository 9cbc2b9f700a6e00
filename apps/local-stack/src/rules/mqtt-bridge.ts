/**
 * The rules engine in front of an external broker (e.g. mosquitto), for when the stack does not run its own
 * aedes. The bridge subscribes (QoS 1, persistent session) to every rule's FROM filter and acknowledges each
 * message to the broker only after the rule's action — Kinesis, or the error action — accepted it, so a
 * bridge that dies mid-message gets it again on reconnect.
 *
 * What differs from the in-broker rules engine: the publisher's own PUBACK does not wait for the rule, and an
 * MQTT broker does not tell subscribers who published, so `clientid()` is Undefined (the field is left out and
 * the Lambda's identity check does not apply). Use the built-in broker to reproduce IoT exactly.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { RuleEngine } from './rule-engine.js';

export interface RulesBridgeOptions {
  brokerUrl: string;
  rules: RuleEngine;
  /** Topic filters to subscribe to (the rules' FROM filters). */
  filters: string[];
  clientId?: string;
  log?: (line: string) => void;
}

export interface RunningRulesBridge {
  close(): Promise<void>;
}

export async function startRulesBridge(options: RulesBridgeOptions): Promise<RunningRulesBridge> {
  const log = options.log ?? ((line: string) => process.stderr.write(`[rules-bridge] ${line}\n`));
  const client: MqttClient = await mqtt.connectAsync(options.brokerUrl, {
    clientId: options.clientId ?? 'alleycat-rules-bridge',
    protocolVersion: 4,
    clean: false, // a persistent session: QoS 1 messages wait for the bridge while it is away
    reconnectPeriod: 500,
  });
  // mqtt.js sends the PUBACK when this callback is called: only after the rule's actions are done.
  client.handleMessage = (packet, done) => {
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    options.rules.onMessage({ topic: packet.topic, payload, clientId: undefined }).then(
      () => done(),
      (error: unknown) => {
        // Even the error action failed: no PUBACK; drop the connection so the broker redelivers.
        log(`message on ${packet.topic} not acknowledged: ${String(error)}`);
        client.stream.destroy();
      },
    );
  };
  if (options.filters.length > 0) await client.subscribeAsync(options.filters, { qos: 1 });
  return { close: () => client.endAsync() };
}
