// The HTTPS listener's TLS: the certificate picked by SNI (exact names, a wildcard, a default for
// clients without SNI), TLS 1.2+ only, session resumption by ticket, certificates reloaded from
// disk without dropping open connections, bad certificates refused, expiry as a metric and a
// warning. Real TLS with certificates made at test time.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rename, writeFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { validateConfig } from '../../shared/config/config.js';
import { StrataNode } from '../../shared/node.js';
import { edgeRole } from '../../edge/edge-role.js';
import { metric } from '../helpers/edge.js';
import { metricSum } from '../helpers/metrics.js';
import { startOrigin } from '../helpers/origin.js';
import { handshake, httpsGet, startHttpsEdge, tlsAgent } from '../helpers/https-node.js';
import { issue, testCa, writeCert, type TestCa } from '../helpers/tls-certs.js';
import { until } from '../helpers/wait.js';

/** Three certificates: a.test, b.test and *.c.test, in that order (a.test is the default). */
async function threeCerts(t: test.TestContext) {
  const ca = await testCa(t);
  const a = await writeCert(ca, 'a', await issue(ca, ['a.test']));
  const b = await writeCert(ca, 'b', await issue(ca, ['b.test', 'www.b.test']));
  const c = await writeCert(ca, 'c', await issue(ca, ['*.c.test']));
  return { ca, files: [a, b, c] };
}

test('SNI picks the certificate holding the name: two names, a wildcard, and the default without SNI', async (t) => {
  const origin = await startOrigin(t);
  const { ca, files } = await threeCerts(t);
  const edge = await startHttpsEdge(t, files, { sites: [{ hosts: ['*'], origins: [origin.url] }] });
  const served = async (servername?: string) => {
    // The name is checked here, not by the client: some of these get the default on purpose.
    const h = await handshake(edge.httpsPort, ca, {
      ...(servername && { servername }),
      checkServerIdentity: () => undefined,
    });
    h.socket.destroy();
    return h.cert.subjectaltname;
  };
  assert.equal(await served('a.test'), 'DNS:a.test');
  assert.equal(await served('www.b.test'), 'DNS:b.test, DNS:www.b.test');
  assert.equal(await served('x.c.test'), 'DNS:*.c.test');
  // A wildcard covers one label only (RFC 6125 §6.4.3): these get the default certificate.
  assert.equal(await served('c.test'), 'DNS:a.test');
  assert.equal(await served('x.y.c.test'), 'DNS:a.test');
  assert.equal(await served(undefined), 'DNS:a.test');
  // A request over the chosen certificate reaches the pipeline as https, with Cache-Status.
  const res = await httpsGet(tlsAgent(t, ca, 'x.c.test'), `${edge.httpsUrl}/page`, 'x.c.test');
  assert.equal(res.status, 200);
  assert.match(String(res.headers['cache-status']), /^edge-test; fwd=uri-miss/);
  assert.equal(origin.requests[0].headers['x-forwarded-proto'], 'https');
  assert.ok(metricSum(await edge.metrics(), 'strata_tls_handshakes_total', { alpn: 'http/1.1' }) >= 1);
});

test('TLS 1.1 is refused, TLS 1.2 and 1.3 are accepted, and a ticket resumes a session', async (t) => {
  const origin = await startOrigin(t);
  const { ca, files } = await threeCerts(t);
  const edge = await startHttpsEdge(t, files, { sites: [{ hosts: ['*'], origins: [origin.url] }] });
  await assert.rejects(
    handshake(edge.httpsPort, ca, {
      servername: 'a.test',
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1.1',
      ciphers: 'DEFAULT@SECLEVEL=0',
    }),
    /protocol version|unsupported protocol/i,
  );
  const v12 = await handshake(edge.httpsPort, ca, { servername: 'a.test', maxVersion: 'TLSv1.2' });
  v12.socket.destroy();
  assert.equal(v12.protocol, 'TLSv1.2');
  const first = await handshake(edge.httpsPort, ca, { servername: 'b.test' });
  assert.equal(first.protocol, 'TLSv1.3');
  // TLS 1.3 tickets arrive after the handshake: wait for the session event.
  const session = await new Promise<Buffer>((resolve) => first.socket.once('session', resolve));
  first.socket.destroy();
  const again = await handshake(edge.httpsPort, ca, { servername: 'b.test', session });
  assert.equal(again.resumed, true);
  const answer = await new Promise<string>((resolve) => {
    again.socket.once('data', (d: Buffer) => resolve(d.toString('latin1')));
    again.socket.write('GET / HTTP/1.1\r\nHost: b.test\r\n\r\n');
  });
  again.socket.destroy();
  assert.match(answer, /^HTTP\/1\.1 200/);
  await until(
    async () =>
      metric(
        await edge.metrics(),
        'strata_tls_handshake_errors_total{code="ERR_SSL_UNSUPPORTED_PROTOCOL"}',
      ) === 1,
  );
  const text = await edge.metrics();
  assert.equal(metricSum(text, 'strata_tls_handshakes_total', { resumed: 'yes', protocol: 'TLSv1.3' }), 1);
});

/** The fingerprint a new connection for `servername` sees. */
async function fingerprintFor(port: number, ca: TestCa, servername: string): Promise<string> {
  const h = await handshake(port, ca, { servername });
  h.socket.destroy();
  return h.cert.fingerprint256;
}

test('a certificate replaced on disk: the open connection keeps working, new ones get the new certificate', async (t) => {
  const origin = await startOrigin(t);
  const ca = await testCa(t);
  const files = await writeCert(ca, 'a', await issue(ca, ['a.test']));
  const edge = await startHttpsEdge(
    t,
    [files],
    { sites: [{ hosts: ['*'], origins: [origin.url] }] },
    { reloadCheck: '100ms' },
  );
  const open = await handshake(edge.httpsPort, ca, { servername: 'a.test' });
  const before = open.cert.fingerprint256;
  const ask = (path: string) =>
    new Promise<string>((resolve, reject) => {
      open.socket.once('data', (d: Buffer) => resolve(d.toString('latin1')));
      open.socket.once('error', reject);
      open.socket.write(`GET ${path} HTTP/1.1\r\nHost: a.test\r\n\r\n`);
    });
  assert.match(await ask('/one'), /^HTTP\/1\.1 200/);
  // Replace both files the way deploy tools do: write elsewhere, rename into place.
  const next = await issue(ca, ['a.test']);
  await writeFile(`${files.key}.new`, next.key);
  await writeFile(`${files.cert}.new`, next.cert);
  await rename(`${files.key}.new`, files.key);
  await rename(`${files.cert}.new`, files.cert);
  await until(
    async () => metric(await edge.metrics(), 'strata_tls_certificate_reloads_total{result="ok"}') >= 1,
  );
  const after = await fingerprintFor(edge.httpsPort, ca, 'a.test');
  assert.notEqual(after, before);
  // The connection opened before the reload still serves requests, over its old certificate.
  assert.match(await ask('/two'), /^HTTP\/1\.1 200/);
  assert.equal(open.socket.getPeerCertificate().fingerprint256, before);
  open.socket.destroy();
  assert.equal(origin.requests.length, 2);
});

test('a bad new certificate is refused on SIGHUP-style reload, and the old one keeps serving', async (t) => {
  const origin = await startOrigin(t);
  const ca = await testCa(t);
  const files = await writeCert(ca, 'a', await issue(ca, ['a.test']));
  const edge = await startHttpsEdge(t, [files], { sites: [{ hosts: ['*'], origins: [origin.url] }] });
  const before = await fingerprintFor(edge.httpsPort, ca, 'a.test');
  // A key that belongs to another certificate.
  await writeFile(files.key, (await issue(ca, ['other.test'])).key);
  assert.equal(await edge.node.reloadCertificates(), false);
  // Not a certificate at all.
  await writeFile(files.key, (await issue(ca, ['a.test'])).key);
  await writeFile(files.cert, 'not a certificate\n');
  assert.equal(await edge.node.reloadCertificates(), false);
  // Expired.
  const expired = await issue(ca, ['a.test'], { validMs: -60_000 });
  await writeFile(files.key, expired.key);
  await writeFile(files.cert, expired.cert);
  assert.equal(await edge.node.reloadCertificates(), false);
  assert.equal(await fingerprintFor(edge.httpsPort, ca, 'a.test'), before);
  const text = await edge.metrics();
  assert.equal(metric(text, 'strata_tls_certificate_reloads_total{result="failed"}'), 3);
  assert.equal(metric(text, 'strata_tls_certificate_reloads_total{result="ok"}'), 0);
  // A good one is then taken.
  await writeCert(ca, 'a', await issue(ca, ['a.test']));
  assert.equal(await edge.node.reloadCertificates(), true);
  assert.notEqual(await fingerprintFor(edge.httpsPort, ca, 'a.test'), before);
});

test('expiry is a metric, and a certificate within 14 days of it is a warning in the log', async (t) => {
  const ca = await testCa(t);
  const soon = await writeCert(ca, 'soon', await issue(ca, ['soon.test'], { validMs: 3 * 86_400_000 }));
  const lines: { level: number; msg: string; certificate?: string; daysLeft?: number }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number]);
      done();
    },
  });
  const { config } = validateConfig({
    node: { id: 'edge-test' },
    listen: {
      http: '127.0.0.1:0',
      admin: '127.0.0.1:0',
      https: { address: '127.0.0.1:0', certificates: [soon] },
    },
    sites: [{ hosts: ['*'], origins: ['http://127.0.0.1:1'] }],
    log: { access: false },
  });
  const node = new StrataNode(config!, { role: edgeRole, log: pino({ level: 'info' }, sink) });
  await node.start();
  t.after(() => node.stop(1000));
  const warning = lines.find((l) => l.msg === 'certificate expires within 14 days');
  assert.equal(warning?.certificate, soon.cert);
  assert.equal(warning?.daysLeft, 2);
  const text = await node.metrics.registry.metrics();
  const expiry = metricSum(text, 'strata_tls_certificate_expiry_timestamp_seconds', { name: 'soon.test' });
  assert.ok(Math.abs(expiry - (Date.now() + 3 * 86_400_000) / 1000) < 120, `expiry ${expiry}`);
});

test('an unreadable certificate stops start-up naming listen.https.certificates and the file', async (t) => {
  await assert.rejects(
    startHttpsEdge(t, [{ cert: '/nonexistent/a.pem', key: '/nonexistent/a.key' }], {
      sites: [{ hosts: ['*'], origins: ['http://127.0.0.1:1'] }],
    }),
    /listen\.https\.certificates: cannot read \/nonexistent\/a\.(pem|key)/,
  );
});

test('listen.https.http2: false offers HTTP/1.1 only, with the same certificates', async (t) => {
  const origin = await startOrigin(t);
  const { ca, files } = await threeCerts(t);
  const edge = await startHttpsEdge(
    t,
    files,
    { sites: [{ hosts: ['*'], origins: [origin.url] }] },
    { http2: false },
  );
  const h = await handshake(edge.httpsPort, ca, { servername: 'b.test', ALPNProtocols: ['h2', 'http/1.1'] });
  h.socket.destroy();
  assert.equal(h.socket.alpnProtocol, 'http/1.1');
  assert.equal(h.cert.subjectaltname, 'DNS:b.test, DNS:www.b.test');
  const res = await httpsGet(tlsAgent(t, ca, 'b.test'), `${edge.httpsUrl}/one`, 'b.test');
  assert.equal(res.status, 200);
  assert.match(String(res.headers['cache-status']), /^edge-test; fwd=uri-miss/);
});
