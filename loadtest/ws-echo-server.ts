// Bench WebSocket echo server (a child process): every message comes back as it was.
//
//   node dist/loadtest/ws-echo-server.js

import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { serveUntilSignal } from './child-server.js';

const server = createServer((_req, res) => res.writeHead(426).end('WebSocket only\n'));
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
// Upgraded sockets are not the HTTP server's to close: end them when the bench stops this child.
for (const signal of ['SIGTERM', 'SIGINT'] as const)
  process.once(signal, () => {
    for (const ws of wss.clients) ws.terminate();
  });
await serveUntilSignal(server, 'ws-echo');
