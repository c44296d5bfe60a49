// A throwaway CA and a server certificate for one host, as an https origin's tests need them
// (made in-process by tls-certs.ts; no openssl binary).

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { issue, testCa } from './tls-certs.js';

export interface TestCerts {
  /** The CA certificate's PEM file, as upstream.caFile takes it. */
  caFile: string;
  key: string;
  cert: string;
}

export async function makeCerts(t: TestContext, host = 'localhost'): Promise<TestCerts> {
  const ca = await testCa(t);
  const server = await issue(ca, [host]);
  const caFile = join(ca.dir, 'ca.pem');
  await writeFile(caFile, ca.cert);
  return { caFile, key: server.key, cert: server.cert };
}
