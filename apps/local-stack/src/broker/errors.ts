import { LocalStackError } from '../errors.js';

/**
 * An MQTT 5 client broke the protocol (or a limit IoT Core enforces); the broker sends DISCONNECT with
 * `reasonCode` and closes that connection only. Not retryable: the same packet would be refused again.
 */
export class Mqtt5ProtocolError extends LocalStackError {
  readonly reasonCode: number;
  constructor(reasonCode: number, message: string) {
    super(message);
    this.name = 'Mqtt5ProtocolError';
    this.reasonCode = reasonCode;
  }
}
