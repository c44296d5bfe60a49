// Certificates made at test time, in-process (the selfsigned package, on Node's WebCrypto; no
// openssl binary): a throwaway CA and a server certificate for "localhost" signed by it.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { generate } from 'selfsigned';

export interface TestCerts {
  caFile: string;
  key: string;
  cert: string;
}

/** Valid from an hour ago (clock skew) for a day. */
function validity(): { notBeforeDate: Date; notAfterDate: Date } {
  const now = Date.now();
  return { notBeforeDate: new Date(now - 3_600_000), notAfterDate: new Date(now + 86_400_000) };
}

export async function makeCerts(t: TestContext, host = 'localhost'): Promise<TestCerts> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-certs-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ca = await generate([{ name: 'commonName', value: 'Strata test CA' }], {
    ...validity(),
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const server = await generate([{ name: 'commonName', value: host }], {
    ...validity(),
    keySize: 2048,
    algorithm: 'sha256',
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: host }] },
    ],
  });
  const caFile = join(dir, 'ca.pem');
  await writeFile(caFile, ca.cert);
  return { caFile, key: server.private, cert: server.cert };
}
