// nginx as a bench reference: a caching proxy with its disk cache (proxy_cache) in a temp dir,
// run as the bench's own process (never a system service) with one worker, pinned like the edge.
// Started with `nginx -p <dir> -c <dir>/nginx.conf -g 'daemon off;'`; ready when its port answers.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pinned, stopChild, track } from './processes.js';
import { fetchRaw } from './edge-under-test.js';

const nginxBinary = '/usr/sbin/nginx';

/** Throws one line with the install hint when nginx is not installed. */
export function checkNginx(): string {
  const r = spawnSync(nginxBinary, ['-v'], { encoding: 'utf8' });
  if (r.error) throw new Error('nginx is not installed: apt-get install -y nginx-light (Debian)');
  return /nginx\/(\S+)/.exec(`${r.stdout}${r.stderr}`)?.[1] ?? '?';
}

/** A free loopback port (nginx cannot listen on port 0): bound, read and released. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function config(dir: string, port: number, originUrl: string): string {
  const origin = new URL(originUrl).host;
  return `
worker_processes 1;
user root;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush off; # the default: with it on, 100 KiB answers waited for delayed ACKs (p50 40 ms)
  keepalive_requests 1000000;
  client_body_temp_path ${dir}/tmp/client;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  proxy_cache_path ${dir}/cache levels=1:2 keys_zone=bench:16m max_size=4g inactive=1d use_temp_path=off;
  upstream origin { server ${origin}; keepalive 16; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache bench;
      proxy_cache_valid 200 1h;
      add_header X-Cache-Status $upstream_cache_status;
    }
  }
}
`;
}

/** Starts nginx with its cache under `dir` in front of `originUrl`; its URL and handle. */
export async function startNginx(
  dir: string,
  originUrl: string,
  cpu: number | undefined,
): Promise<{ url: string; child: ChildProcess }> {
  for (const d of ['tmp', 'cache']) mkdirSync(join(dir, d), { recursive: true });
  const port = await freePort();
  const confFile = join(dir, 'nginx.conf');
  writeFileSync(confFile, config(dir, port, originUrl));
  const url = `http://127.0.0.1:${port}`;
  // nginx prints no ready line: it is ready once its port answers.
  const [command, args] = pinned(cpu, nginxBinary, ['-p', dir, '-c', confFile, '-g', 'daemon off;']);
  const log = openSync(join(dir, 'nginx.log'), 'w');
  const child = spawn(command, args, { stdio: ['ignore', log, log] });
  closeSync(log);
  track(child);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const ok = await fetchRaw(`${url}/obj/0`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return { url, child };
    if (child.exitCode !== null) break;
    await sleep(20);
  }
  await stopChild(child);
  throw new Error(`nginx did not answer on ${url}; see ${dir}/error.log and nginx.log`);
}
