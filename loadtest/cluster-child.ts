// Runs a bench child server (bare-server.js, bare-proxy.js) as N processes behind node:cluster,
// which hands connections round-robin to them as it does to a node's workers: the reference
// for what N Node.js processes reach on this machine. Announces one ready line once every
// process listens, and stops them all on SIGTERM or SIGINT.
//
//   node dist/loadtest/cluster-child.js --workers N SCRIPT [ARGS...]

import cluster from 'node:cluster';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  options: { workers: { type: 'string', default: '2' } },
  allowPositionals: true,
  strict: true,
});
const workers = Number(values.workers);
const [script, ...args] = positionals;
if (!script || !(workers >= 1)) throw new Error('usage: cluster-child.js --workers N SCRIPT [ARGS...]');

cluster.setupPrimary({ exec: script, args, silent: true });
let listening = 0;
cluster.on('listening', (_worker, address) => {
  if (++listening === workers)
    process.stdout.write(
      `${JSON.stringify({ msg: 'listening', name: 'cluster', port: address.port, workers })}\n`,
    );
});
for (let i = 0; i < workers; i++) cluster.fork();
const stop = () => {
  for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
  cluster.disconnect(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
