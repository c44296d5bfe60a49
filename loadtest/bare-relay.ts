#!/usr/bin/env node
// The relay bench's reference relays: the least a Node.js relay does, with no limits, health,
// metrics or logs. TCP: each connection piped to the backend both ways. UDP: a socket per
// client address and port, connected to the backend, its replies sent back to that client.
// Usage: bare-relay.js TCP_BACKEND_PORT UDP_BACKEND_PORT

import { connect, createServer } from 'node:net';
import { createSocket, type Socket } from 'node:dgram';

const [tcpBackend, udpBackend] = process.argv.slice(2).map(Number);

const tcp = createServer((client) => {
  const backend = connect(tcpBackend, '127.0.0.1');
  client.on('error', () => backend.destroy());
  backend.on('error', () => client.destroy());
  client.pipe(backend).pipe(client);
});

const udp = createSocket('udp4');
const sessions = new Map<string, Socket>();
udp.on('message', (datagram, from) => {
  const key = `${from.address}|${from.port}`;
  let upstream = sessions.get(key);
  if (!upstream) {
    const socket = createSocket('udp4');
    upstream = socket;
    sessions.set(key, socket);
    socket.on('message', (reply) => udp.send(reply, from.port, from.address));
    socket.on('error', () => {});
    socket.connect(udpBackend, '127.0.0.1', () => socket.send(datagram));
    return;
  }
  // Datagrams that come while the socket connects are dropped: the load generator resends.
  try {
    upstream.send(datagram);
  } catch {
    // not connected yet
  }
});

tcp.listen(0, '127.0.0.1', () => {
  udp.bind(0, '127.0.0.1', () => {
    const tcpPort = (tcp.address() as { port: number }).port;
    console.log(JSON.stringify({ msg: 'bare relay ready', tcpPort, udpPort: udp.address().port }));
  });
});
process.once('SIGTERM', () => process.exit(0));
