// An aedes broker in its own process, so a test can kill and restart it. Listens on 127.0.0.1:PORT
// (argv[2], 0 = any free port), prints the port, then one line per PUBLISH on the watched topic
// (argv[3]): `PUB <qos> <clientId> <payload>`. Lines on stdin `SEND <topic> <payload>` are published by the broker.
import net from 'node:net';
import readline from 'node:readline';
import { Aedes } from 'aedes';

const port = Number(process.argv[2] ?? 0);
const watched = process.argv[3] ?? 'alleycat-publish';
// Logged in authorizePublish, which holds the PUBACK (FIELD-NOTES): acknowledged means logged.
const broker = await Aedes.createBroker({
  authorizePublish: (client, packet, callback) => {
    if (client && packet.topic === watched) {
      process.stdout.write(`PUB ${packet.qos} ${client.id} ${packet.payload.toString('utf8')}\n`);
    }
    callback(null);
  },
});
const server = net.createServer(broker.handle);
server.listen(port, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const match = /^SEND (\S+) (.*)$/.exec(line);
  if (match)
    broker.publish(
      { topic: match[1], payload: Buffer.from(match[2]), qos: 0, retain: false, cmd: 'publish', dup: false },
      () => {},
    );
});
process.on('SIGTERM', () => process.exit(0));
