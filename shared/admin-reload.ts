// POST /reload on the admin listener: what SIGHUP does, for operators and orchestrators that
// reach a node over HTTP (docs/admin-api.md). It takes the purge API's bearer token, and answers
// once the reload is over: the new config serving, or refused with every problem and nothing changed.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from './admin-server.js';
import type { BearerToken } from './bearer-token.js';
import { StrataError } from './errors.js';

/** What a reload did. */
export type ReloadOutcome =
  /** The config file is serving (a node with workers replaced them one at a time). */
  | { config: 'applied'; workers: number }
  /** The file was refused (invalid, or a change that needs a restart): nothing changed. */
  | { config: 'refused'; problems: string[] }
  /** A new worker failed to start: the node keeps the running config. */
  | { config: 'failed'; message: string }
  /** A single-process node (workers: 1) applies a changed config on restart; it reloaded its certificates. */
  | { config: 'unchanged'; certificates: boolean };

/** The admin listener's route for POST /reload; `reload` is the node's, shared with SIGHUP. */
export function reloadRoute(
  token: BearerToken,
  reload: () => Promise<ReloadOutcome>,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    if ((req.url ?? '/').split('?')[0] !== '/reload') return false;
    answer(req, token, reload).then(
      (outcome) => sendJson(res, 200, outcome),
      (err: unknown) => {
        const e = StrataError.from(err);
        if (e.code === 'ADMIN_METHOD_NOT_ALLOWED') res.setHeader('allow', 'POST');
        sendJson(res, e.status, { error: e.code, message: e.message, ...e.context });
      },
    );
    return true;
  };
}

async function answer(
  req: IncomingMessage,
  token: BearerToken,
  reload: () => Promise<ReloadOutcome>,
): Promise<ReloadOutcome> {
  if (req.method !== 'POST')
    throw new StrataError('ADMIN_METHOD_NOT_ALLOWED', `${req.method} /reload: use POST`);
  const check = token.check(req.headers.authorization);
  if (check === 'disabled') throw new StrataError('ADMIN_DISABLED');
  if (check !== 'ok')
    throw new StrataError('ADMIN_UNAUTHORIZED', check === 'missing' ? undefined : 'wrong bearer token');
  // Nothing in the body is read: the node reloads its own config file.
  req.resume();
  const outcome = await reload();
  if (outcome.config === 'refused')
    throw new StrataError('RELOAD_REFUSED', undefined, { problems: outcome.problems });
  if (outcome.config === 'failed') throw new StrataError('RELOAD_FAILED', outcome.message);
  return outcome;
}
