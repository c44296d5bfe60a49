// A fetch() for the cache-tests suite that sends exactly the fields it is given, as the suite's
// own command line does with node-fetch. Node's global fetch follows the Fetch standard's cache
// modes: the suite asks for `cache: 'no-store'`, and a request carrying a validator is made
// `no-store` anyway, so it adds `Cache-Control: no-cache` and `Pragma: no-cache` to every request
// whose fields the suite sets, and a shared cache rightly goes to the origin for those.

import { STATUS_CODES } from 'node:http';
import { request } from 'undici';

interface PlainInit {
  method?: string;
  headers?: [string, string][] | Record<string, string>;
  body?: string;
}

export interface PlainResponse {
  status: number;
  statusText: string;
  ok: boolean;
  headers: Headers;
  text(): Promise<string>;
}

/** One request over undici's pool, no redirects followed, no fields added; the body read whole. */
export async function plainFetch(url: string | URL, init: PlainInit = {}): Promise<PlainResponse> {
  const fields: string[] = [];
  const given = init.headers ?? [];
  for (const [name, value] of Array.isArray(given) ? given : Object.entries(given))
    fields.push(name, String(value));
  const res = await request(String(url), { method: init.method ?? 'GET', headers: fields, body: init.body });
  const text = await res.body.text();
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers))
    for (const v of Array.isArray(value) ? value : [value ?? '']) headers.append(name, v);
  return {
    status: res.statusCode,
    statusText: STATUS_CODES[res.statusCode] ?? '',
    ok: res.statusCode >= 200 && res.statusCode < 300,
    headers,
    text: () => Promise.resolve(text),
  };
}
