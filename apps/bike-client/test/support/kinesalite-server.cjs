// Starts kinesalite on 127.0.0.1 (port from argv, 0 = any free port) and prints the port on stdout.
// kinesalite's own CLI maps port 0 to its default 4567, hence this launcher.
const kinesalite = require('kinesalite');
const port = Number(process.argv[2] ?? 0);
const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100 });
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
