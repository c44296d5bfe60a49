// BearerToken: the admin listener's operator token (purge.token, or the first line of
// purge.tokenFile), compared in constant time. The purge API and POST /reload take the same one.

import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { StrataConfig } from './config/config.js';
import { StrataError } from './errors.js';

/** What an Authorization field proves: `disabled` when the node has no token to compare with. */
export type TokenCheck = 'ok' | 'disabled' | 'missing' | 'wrong';

export class BearerToken {
  private readonly digest: Buffer | undefined;

  constructor(token: string | undefined) {
    this.digest = token === undefined ? undefined : sha256(token);
  }

  check(authorization: string | undefined): TokenCheck {
    if (!this.digest) return 'disabled';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) return 'missing';
    // Digests of equal length, so the comparison takes the same time whatever was sent.
    return timingSafeEqual(sha256(m[1]), this.digest) ? 'ok' : 'wrong';
  }
}

/** purge.token, or the first line of purge.tokenFile; CONFIG_INVALID naming the file if it cannot be read. */
export async function readToken(config: StrataConfig): Promise<string | undefined> {
  const { token, tokenFile } = config.purge;
  if (token !== undefined) return token;
  if (tokenFile === undefined) return undefined;
  let text: string;
  try {
    text = await readFile(tokenFile, 'utf8');
  } catch (err) {
    throw StrataError.because('CONFIG_INVALID', err, { file: tokenFile, path: 'purge.tokenFile' });
  }
  const first = text.split(/\r?\n/)[0].trim();
  if (first.length < 16)
    throw new StrataError(
      'CONFIG_INVALID',
      `purge.tokenFile ${tokenFile}: the token must be at least 16 characters`,
    );
  return first;
}

function sha256(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
