// A node with workers: 2 (strata edge, real processes): its primary runs the one purge agent,
// fans each purge out to both workers over IPC and acknowledges once both applied it; a PURGE
// request a worker takes is relayed to the primary's bus.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { runCli } from '../helpers/cli.js';
import { ok, startOrigin } from '../helpers/origin.js';
import { postPurge, testToken } from '../helpers/purge.js';
import { until } from '../helpers/wait.js';

test('with workers, a purge reaches every worker and the node acknowledges it once', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=600' }));
  const dir = await mkdtemp(join(tmpdir(), 'strata-purge-workers-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'edge.yaml');
  await writeFile(
    file,
    `node: { id: edge-workers }
listen: { http: "127.0.0.1:0", admin: "127.0.0.1:0" }
workers: 2
sites:
  - hosts: ["*"]
    origins: ["${origin.url}"]
purge: { token: ${testToken}, heartbeat: 100ms, methodFrom: ["127.0.0.0/8"] }
shutdown: { drainTimeout: 2s }
`,
  );
  const run = runCli(t, ['edge', '--config', file]);
  await until(() => /"workers":2,"msg":"edge started"/.test(run.stdout()), 20_000);
  const line = run
    .stdout()
    .split('\n')
    .find((l) => l.includes('"workers":2'))!;
  const { httpPort, adminPort } = JSON.parse(line) as { httpPort: number; adminPort: number };
  const admin = `http://127.0.0.1:${adminPort}`;
  // New connections, so that both workers serve some: the owner of the key fetched it once, and
  // the other keeps a copy in its memory tier (siblings.ts).
  for (let i = 0; i < 20; i++) {
    const res = await request(`http://127.0.0.1:${httpPort}/w`, { reset: true });
    await res.body.text();
  }
  assert.equal(origin.requests.length, 1);
  const nodes = (await (await request(`${admin}/nodes`)).body.json()) as {
    nodes: { node: string; workers: number }[];
  };
  assert.deepEqual(
    nodes.nodes.map((n) => [n.node, n.workers]),
    [['edge-workers', 2]],
  );
  const answer = await postPurge(admin, { urls: [`http://127.0.0.1:${httpPort}/w`] }, { wait: '10s' });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const [result] = answer.body.results as { node: string; objects: number; missingWorkers?: number[] }[];
  assert.equal(result.node, 'edge-workers');
  // Every worker's copy went: the owner's object and the other worker's copy.
  assert.equal(result.objects, 2);
  assert.equal(result.missingWorkers, undefined);
  // PURGE on the proxy listener: the worker that takes it relays it to the primary's bus.
  const purged = await request(`http://127.0.0.1:${httpPort}/w`, { method: 'PURGE' as 'GET' });
  assert.equal(purged.statusCode, 200);
  const { id } = (await purged.body.json()) as { id: string };
  await until(async () => {
    const res = await request(`${admin}/purge/${id}`);
    return ((await res.body.json()) as { complete?: boolean }).complete === true;
  }, 10_000);
  run.child.kill('SIGTERM');
  assert.equal(await run.exited, 0);
});
