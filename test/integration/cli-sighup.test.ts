// strata edge with listen.https, as operators run it: SIGHUP (or POST /reload) reloads the
// certificates from disk (the new one serves new connections), a bad one is refused, and the
// process never stops for it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { stringify } from 'yaml';
import { runCli } from '../helpers/cli.js';
import { handshake } from '../helpers/https-node.js';
import { issue, testCa, writeCert } from '../helpers/tls-certs.js';

test('SIGHUP reloads the HTTPS certificates; a bad one is refused and the edge keeps serving', async (t) => {
  const ca = await testCa(t);
  const files = await writeCert(ca, 'edge', await issue(ca, ['edge.test']));
  const config = join(ca.dir, 'edge.yaml');
  await writeFile(
    config,
    stringify({
      node: { id: 'edge-cli' },
      // One process: SIGHUP reloads its certificates (workers reload the whole config on it).
      workers: 1,
      listen: {
        http: '127.0.0.1:0',
        admin: '127.0.0.1:0',
        // Changes are noticed on SIGHUP here, not by the file check.
        https: { address: '127.0.0.1:0', certificates: [files], reloadCheck: '1h' },
      },
      sites: [{ hosts: ['*'], origins: ['http://127.0.0.1:1'] }],
      purge: { token: 'reload-token-0123456789' },
      log: { level: 'info', access: false },
    }),
  );
  const run = runCli(t, ['edge', '--config', config]);
  const started = await run.logLine('edge started');
  const port = Number(started.httpsPort);
  const fingerprint = async () => {
    const h = await handshake(port, ca, { servername: 'edge.test' });
    h.socket.destroy();
    return h.cert.fingerprint256;
  };
  const before = await fingerprint();

  await writeCert(ca, 'edge', await issue(ca, ['edge.test']));
  const reloaded = run.logLine('certificates reloaded');
  run.child.kill('SIGHUP');
  assert.equal((await reloaded).reason, 'signal');
  const after = await fingerprint();
  assert.notEqual(after, before);

  await writeFile(files.cert, 'garbage\n');
  const refused = run.logLine('certificate reload refused: the certificates in service keep serving');
  run.child.kill('SIGHUP');
  assert.match(String((await refused).err), /not a PEM certificate/);
  assert.equal(await fingerprint(), after);

  // POST /reload does what SIGHUP does; one process applies a changed config on restart only.
  await writeCert(ca, 'edge', await issue(ca, ['edge.test']));
  const res = await request(`http://127.0.0.1:${started.adminPort}/reload`, {
    method: 'POST',
    headers: { authorization: 'Bearer reload-token-0123456789' },
  });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(await res.body.json(), { config: 'unchanged', certificates: true });
  assert.notEqual(await fingerprint(), after);

  run.child.kill('SIGTERM');
  assert.equal(await run.exited, 0);
});
