// POST /reload on the admin listener of a node with workers: 2, run as operators run it: the
// purge token is required, a good config file replaces the workers, a bad one is answered 409
// with every problem. (One process's reload is in cli-sighup.test.ts.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { request } from 'undici';
import { ok, startOrigin } from '../helpers/origin.js';
import { config, get, startNode } from '../helpers/workers-node.js';

test('POST /reload on the admin listener applies the config file as SIGHUP does, with the purge token', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'no-store' }));
  const token = 'reload-token-0123456789';
  const withToken = (id: string, extra = '') =>
    config(origin.url, id, `purge: { token: ${token} }\n${extra}`);
  const node = await startNode(t, withToken('edge-api'));
  const post = async (headers: Record<string, string> = {}, method = 'POST') => {
    const res = await request(`${node.admin}/reload`, { method, headers });
    return {
      status: res.statusCode,
      headers: res.headers,
      body: (await res.body.json()) as Record<string, unknown>,
    };
  };

  const anonymous = await post();
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.body.error, 'ADMIN_UNAUTHORIZED');
  assert.equal(anonymous.headers['www-authenticate'], 'Bearer realm="strata"');
  assert.equal((await post({ authorization: 'Bearer not-the-token-at-all' })).status, 401);
  const wrongMethod = await post({ authorization: `Bearer ${token}` }, 'GET');
  assert.equal(wrongMethod.status, 405);
  assert.equal(wrongMethod.headers.allow, 'POST');

  await writeFile(node.file, withToken('edge-api-reloaded'));
  const applied = await post({ authorization: `Bearer ${token}` });
  assert.deepEqual(applied, { ...applied, status: 200, body: { config: 'applied', workers: 2 } });
  assert.match((await get(`${node.url}/after`)).cacheStatus, /^edge-api-reloaded; /);

  // A bad file: 409 with every problem and its key path; the running workers stay.
  await writeFile(node.file, withToken('edge-api-bad', 'server: { maxHeaders: lots }'));
  const refused = await post({ authorization: `Bearer ${token}` });
  assert.equal(refused.status, 409);
  assert.equal(refused.body.error, 'RELOAD_REFUSED');
  assert.match(String((refused.body.problems as string[])[0]), /^server\.maxHeaders: expected an integer/);
  assert.match((await get(`${node.url}/still`)).cacheStatus, /^edge-api-reloaded; /);
  node.run.child.kill('SIGTERM');
  assert.equal(await node.run.exited, 0);
});
