// Certificates made at test time with openssl: a throwaway CA and a server certificate for
// "localhost" signed by it.

import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

export interface TestCerts {
  caFile: string;
  key: string;
  cert: string;
}

export async function makeCerts(t: TestContext, host = 'localhost'): Promise<TestCerts> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-certs-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const p = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=Strata test CA',
    '-keyout',
    p('ca.key'),
    '-out',
    p('ca.pem'),
  );
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    `/CN=${host}`,
    '-keyout',
    p('server.key'),
    '-out',
    p('server.csr'),
  );
  await writeFile(p('ext.cnf'), `subjectAltName=DNS:${host}\n`);
  openssl(
    'x509',
    '-req',
    '-in',
    p('server.csr'),
    '-CA',
    p('ca.pem'),
    '-CAkey',
    p('ca.key'),
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    p('ext.cnf'),
    '-out',
    p('server.pem'),
  );
  return {
    caFile: p('ca.pem'),
    key: await readFile(p('server.key'), 'utf8'),
    cert: await readFile(p('server.pem'), 'utf8'),
  };
}
