// Certificates with chosen names for the HTTPS listener's tests, made in-process (the selfsigned
// package, no openssl binary): a throwaway CA, server certificates it signs for any DNS names
// (wildcards included) and validity, written as PEM files in a temp dir removed after the test.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { generate } from 'selfsigned';

export interface TestCa {
  /** PEM of the CA certificate, for clients' `ca`. */
  cert: string;
  key: string;
  /** The temp dir certificates are written to. */
  dir: string;
}

export interface IssuedCert {
  cert: string;
  key: string;
}

/** Paths of a certificate written to disk, as listen.https.certificates takes them. */
export interface CertFiles {
  cert: string;
  key: string;
}

const hourMs = 3_600_000;

/** A CA valid from an hour ago (clock skew) for a day, and its temp dir. */
export async function testCa(t: TestContext): Promise<TestCa> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const now = Date.now();
  const ca = await generate([{ name: 'commonName', value: 'Strata test CA' }], {
    notBeforeDate: new Date(now - hourMs),
    notAfterDate: new Date(now + 24 * hourMs),
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  return { cert: ca.cert, key: ca.private, dir };
}

/**
 * A server certificate signed by `ca` for `names` (subjectAltName DNS entries; the first is
 * also the common name), valid from an hour ago until `validMs` from now (default a day).
 */
export async function issue(
  ca: TestCa,
  names: readonly string[],
  options: { validMs?: number; keyType?: 'ec' | 'rsa' } = {},
): Promise<IssuedCert> {
  const now = Date.now();
  const issued = await generate([{ name: 'commonName', value: names[0] }], {
    notBeforeDate: new Date(now - hourMs),
    notAfterDate: new Date(now + (options.validMs ?? 24 * hourMs)),
    keyType: options.keyType ?? 'ec',
    algorithm: 'sha256',
    ca: { key: ca.key, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: names.map((value) => ({ type: 2 as const, value })) },
    ],
  });
  return { cert: issued.cert, key: issued.private };
}

/** Writes a certificate and its key as `<base>.pem` and `<base>.key` in the CA's dir. */
export async function writeCert(ca: TestCa, base: string, cert: IssuedCert): Promise<CertFiles> {
  const files = { cert: join(ca.dir, `${base}.pem`), key: join(ca.dir, `${base}.key`) };
  // The key first: a reload seeing only one file changed refuses the pair, and the next check
  // sees both. Writing in this order keeps the window short.
  await writeFile(files.key, cert.key);
  await writeFile(files.cert, cert.cert);
  return files;
}
