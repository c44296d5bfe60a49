// Purge API calls for tests: POST /purge with a token, and GET /purge/{id}; the next heartbeat
// a node writes to the purge bus in Redis.

import { Redis } from 'ioredis';
import { request } from 'undici';
import type { Heartbeat } from '../../shared/purge/message.js';

export const testToken = 'test-token-0123456789abcdef';

export interface PurgeAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** POSTs a purge body (an object, or raw text) to a node's admin listener. */
export async function postPurge(
  adminUrl: string,
  body: unknown,
  options: { token?: string | null; wait?: string; headers?: Record<string, string> } = {},
): Promise<PurgeAnswer> {
  const token = options.token === undefined ? testToken : options.token;
  const res = await request(`${adminUrl}/purge${options.wait ? `?wait=${options.wait}` : ''}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...options.headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}

export async function getPurge(adminUrl: string, id: string): Promise<PurgeAnswer> {
  const res = await request(`${adminUrl}/purge/${id}`);
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}

/** Resolves with the next heartbeat `node` writes, as Redis announces it (strata:nodes:heartbeat). */
export async function nextHeartbeat(redisUrl: string, node: string): Promise<Heartbeat> {
  const sub = new Redis(redisUrl);
  try {
    await sub.subscribe('strata:nodes:heartbeat');
    return await new Promise<Heartbeat>((resolve) =>
      sub.on('message', (_channel: string, text: string) => {
        const beat = JSON.parse(text) as Heartbeat;
        if (beat.node === node) resolve(beat);
      }),
    );
  } finally {
    sub.disconnect();
  }
}
