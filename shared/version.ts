// Strata's version, from package.json (read once, at the first use).

import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** The version in package.json ('unknown' when it cannot be read, as in a bundled copy). */
export function strataVersion(): string {
  if (cached !== undefined) return cached;
  try {
    // dist/shared/version.js and shared/version.ts are both two levels below package.json.
    const file = new URL('../../package.json', import.meta.url);
    cached = (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    // No package.json beside the code: the heartbeat says so rather than failing.
    cached = 'unknown';
  }
  return cached;
}
