// strata purge: sends a purge to a node's admin API and reports what every node did.
// Exit codes: 0 every live node applied it within --wait; 1 one did not, or the API refused
// the purge or could not be reached (one line on stderr); 2 a usage error.

import { parseArgs } from 'node:util';
import { request } from 'undici';
import { parseDuration } from '../config/units.js';

export const purgeUsage = `Usage: strata purge [URL...] [--tag T]... [--prefix P]... [--host H]... [--all]
                    [--soft] [--api URL] [--token T] [--wait 5s]

Purges on every node of the fleet through a node's admin API (POST /purge), waits
until every live node has applied it, and prints what each node did.

Options:
  URL                      purge this URL (every Vary variant, GET and HEAD)
  --tag T                  purge every object tagged T (Surrogate-Key, Cache-Tag)
  --prefix P               purge every URL starting with P (http://host/path/)
  --host H                 purge everything of host H
  --all                    purge everything
  --soft                   mark stale (revalidated before use) instead of deleting
  --api URL                the admin API (default http://127.0.0.1:9090)
  --token T                the bearer token (purge.token); default: $STRATA_TOKEN
  --wait D                 how long to wait for every node (default 10s; 0: do not wait)
  -h, --help               show this help

Exit 0 when every live node applied it within the wait, 1 when one did not or the
purge was refused, 2 on usage errors.`;

interface NodeResult {
  node: string;
  applied: boolean;
  lagMs?: number;
  objects?: number;
  missingWorkers?: number[];
}

/** Runs `strata purge ...`; returns the exit code. */
export async function purgeCommand(args: string[], env = process.env): Promise<number> {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        tag: { type: 'string', multiple: true },
        prefix: { type: 'string', multiple: true },
        host: { type: 'string', multiple: true },
        all: { type: 'boolean' },
        soft: { type: 'boolean' },
        api: { type: 'string' },
        token: { type: 'string' },
        wait: { type: 'string' },
      },
    }));
  } catch (err) {
    const message = (err as Error).message;
    console.error(`strata: ${message.charAt(0).toLowerCase()}${message.slice(1)}\n\n${purgeUsage}`);
    return 2;
  }
  const usage = (message: string) => {
    console.error(`strata purge: ${message}\n\n${purgeUsage}`);
    return 2;
  };
  const body = {
    urls: positionals,
    tags: values.tag ?? [],
    prefixes: values.prefix ?? [],
    hosts: values.host ?? [],
    all: values.all === true,
    soft: values.soft === true,
  };
  if (body.urls.length + body.tags.length + body.prefixes.length + body.hosts.length === 0 && !body.all)
    return usage('nothing to purge: give URLs, --tag, --prefix, --host or --all');
  for (const url of [...body.urls, ...body.prefixes]) {
    if (!isHttpUrl(url)) {
      console.error(`strata purge: "${url}" is not an absolute http:// or https:// URL`);
      return 2;
    }
  }
  const waitText = values.wait ?? '10s';
  const waitMs = parseDuration(waitText);
  if (waitMs === undefined) return usage(`--wait expects a duration such as 5s or 500ms, got "${waitText}"`);
  const api = (values.api ?? 'http://127.0.0.1:9090').replace(/\/+$/, '');
  if (!isHttpUrl(api))
    return usage(`--api expects the admin listener's URL such as http://127.0.0.1:9090, got "${api}"`);
  const token = values.token ?? env.STRATA_TOKEN;
  if (!token) {
    console.error("strata purge: no token: give --token or set STRATA_TOKEN (the node's purge.token)");
    return 1;
  }
  return send(api, token, body, waitMs, waitText);
}

async function send(
  api: string,
  token: string,
  body: object,
  waitMs: number,
  waitText: string,
): Promise<number> {
  let status: number;
  let answer: Record<string, unknown>;
  try {
    const res = await request(`${api}/purge${waitMs > 0 ? `?wait=${waitMs}ms` : ''}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      headersTimeout: waitMs + 30_000,
    });
    status = res.statusCode;
    const text = await res.body.text();
    try {
      answer = JSON.parse(text) as Record<string, unknown>;
    } catch {
      console.error(
        `strata purge: ${api} answered ${status} without a purge report (is it a Strata admin listener?)`,
      );
      return 1;
    }
  } catch (err) {
    const e = err as Error & { code?: string };
    console.error(`strata purge: no purge API at ${api} (${e.code ?? e.message})`);
    return 1;
  }
  if (status >= 400) {
    console.error(`strata purge: refused (${status} ${String(answer.error)}): ${String(answer.message)}`);
    return 1;
  }
  const id = String(answer.id);
  const nodes = Number(answer.nodes);
  console.log(`purge ${id} accepted for ${nodes} live node${nodes === 1 ? '' : 's'}`);
  if (waitMs === 0) return 0;
  const results = (answer.results as NodeResult[] | undefined) ?? [];
  const width = Math.max(4, ...results.map((r) => r.node.length));
  for (const r of results) {
    const name = r.node.padEnd(width);
    if (!r.applied) console.log(`  ${name}  NOT applied within ${waitText}`);
    else {
      const missing = r.missingWorkers?.length
        ? `; workers ${r.missingWorkers.join(', ')} did not answer`
        : '';
      console.log(`  ${name}  applied after ${formatMs(r.lagMs ?? 0)} (${r.objects ?? 0} objects${missing})`);
    }
  }
  if (answer.complete === true) {
    console.log(`all ${nodes} applied it within ${formatMs(Number(answer.allAppliedMs ?? 0))}`);
    return 0;
  }
  const applied = Number(answer.applied);
  console.error(
    `strata purge: ${nodes - applied} of ${nodes} nodes did not apply purge ${id} within ${waitText}`,
  );
  return 1;
}

function formatMs(ms: number): string {
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

function isHttpUrl(text: string): boolean {
  if (!/^https?:\/\//i.test(text)) return false;
  try {
    new URL(text);
    return true;
  } catch {
    return false;
  }
}
