import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestFraming, maxChunkExtensionBytes } from '../../../../shared/http/framing.js';

const limits = { maxBodyBytes: 1024, maxHeadBytes: 8192 };
const post = (te: string, body: string, version = '1.1') =>
  `POST /a HTTP/${version}\r\nHost: a\r\nTransfer-Encoding: ${te}\r\n\r\n${body}`;
const next = 'GET /next HTTP/1.1\r\nHost: a\r\n\r\n';

/** Scans `text` in pieces of `step` bytes; the fault's code, or undefined. */
function scan(text: string, step = text.length): string | undefined {
  const framing = new RequestFraming(limits);
  const bytes = Buffer.from(text, 'latin1');
  for (let i = 0; i < bytes.length; i += step) {
    const found = framing.scan(bytes.subarray(i, i + step));
    if (found) return found.fault.code;
  }
  return undefined;
}

test('well-framed pipelines pass, split at every byte', () => {
  const pipelines = [
    `${next}${next}`,
    `\r\n${next}`,
    `POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello${next}`,
    post('chunked', `5\r\nhello\r\n1;a=b;c="d e"\r\nx\r\n0\r\nTrailer: t\r\n\r\n${next}`),
    post('CHUNKED', `a\r\n0123456789\r\n0\r\n\r\n${next}`),
    post(',chunked', `1 ;a\r\nx\r\n0\r\n\r\n${next}`),
    post('chunked', `${'0'.repeat(15)}1\r\nx\r\n0\r\n\r\n${next}`),
  ];
  for (const text of pipelines)
    for (const step of [1, 2, 7, text.length]) assert.equal(scan(text, step), undefined, `${step}: ${text}`);
});

test('RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 request is faulty framing', () => {
  assert.equal(scan(post('chunked', '0\r\n\r\n', '1.0')), 'TRANSFER_ENCODING_HTTP10');
});

test('RFC 9112 §6.3: chunked must be the final transfer coding, and only once; RFC 9112 §6.1: others are 501', () => {
  assert.equal(scan(post('chunked, gzip', '0\r\n\r\n')), 'TRANSFER_ENCODING_INVALID');
  assert.equal(scan(post('', '')), 'TRANSFER_ENCODING_INVALID');
  assert.equal(scan(post('chunked, chunked', '0\r\n\r\n')), 'TRANSFER_ENCODING_INVALID');
  assert.equal(scan(post('gzip, chunked', '0\r\n\r\n')), 'TRANSFER_CODING_UNSUPPORTED');
  const twoLines =
    'POST /a HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n';
  assert.equal(scan(twoLines), 'TRANSFER_CODING_UNSUPPORTED');
});

test('RFC 9112 §7.1: a chunk size with more digits than any length, or past the body limit, is refused at once', () => {
  assert.equal(scan(post('chunked', `${'0'.repeat(16)}1\r\nx`)), 'CHUNK_SIZE_INVALID');
  assert.equal(scan(post('chunked', 'fffffffffff\r\nx')), 'CHUNK_TOO_LARGE');
  // At once: before the line ends, and before any data.
  assert.equal(scan(post('chunked', '401'), 1), 'CHUNK_TOO_LARGE');
  assert.equal(scan(post('chunked', '400\r\n')), undefined);
  assert.equal(scan(post('chunked', 'x\r\n')), 'CHUNK_SIZE_INVALID');
  assert.equal(scan(post('chunked', '-1\r\n')), 'CHUNK_SIZE_INVALID');
});

test('RFC 9112 §7.1.1: chunk extensions are bounded per request, all chunks together', () => {
  const half = 'a'.repeat(maxChunkExtensionBytes / 2);
  assert.equal(scan(post('chunked', `1;${half}\r\nx\r\n0\r\n\r\n`)), undefined);
  assert.equal(
    scan(post('chunked', `1;${half}\r\nx\r\n1;${half}\r\nx\r\n1;${half}\r\nx\r\n`)),
    'CHUNK_EXTENSIONS_TOO_LONG',
  );
});

test('RFC 9112 §7.1: chunked framing lines end in CRLF: a bare LF or CR is refused', () => {
  for (const body of ['1\nx\r\n', '1\r\nx\n0\r\n', '1\r\nx\r\n0\n\n', '1\r\nxy', '1\rx', '0\r\nT: t\n\r\n'])
    assert.equal(scan(post('chunked', body)), 'CHUNK_FRAMING_INVALID', JSON.stringify(body));
});

test('a fault says how many bytes belong to the messages before the faulty one', () => {
  const framing = new RequestFraming(limits);
  const text = `${next}${post('chunked', '0\r\n\r\n', '1.0')}`;
  const found = framing.scan(Buffer.from(text));
  assert.equal(found?.validBytes, next.length);
  const later = new RequestFraming(limits);
  assert.equal(later.scan(Buffer.from(post('chunked', '1\r\n'))), undefined);
  // The faulty message began in an earlier read: nothing of this one is valid.
  assert.equal(later.scan(Buffer.from('x\n'))?.validBytes, 0);
});
