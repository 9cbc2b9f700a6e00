/**
 * Two in-memory streams wired back to back (what one writes, the other reads), standing for the socket between
 * the MQTT 5 adapter and aedes. Node 20 has no `stream.duplexPair` (added in 22.6).
 */
import { Duplex } from 'node:stream';

class Half extends Duplex {
  peer: Half | undefined;
  override _read(): void {
    // Data is pushed by the peer's writes.
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.peer?.push(chunk);
    callback();
  }
  override _final(callback: (error?: Error | null) => void): void {
    this.peer?.push(null);
    callback();
  }
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    this.peer = undefined;
    // The other side sees an orderly end of stream, as a socket's reader does when the writer closes.
    if (peer !== undefined && !peer.destroyed) {
      peer.push(null);
      process.nextTick(() => peer.destroy());
    }
    callback(error);
  }
}

export function duplexPair(): [Duplex, Duplex] {
  const a = new Half();
  const b = new Half();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
