#!/usr/bin/env node
// The relay bench's backend: a TCP source that sends 64 KiB chunks to every connection as fast
// as it reads them (backpressure respected), and a UDP echo. Loopback only; prints its ports.

import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';

const chunk = Buffer.alloc(64 * 1024, 'relay-bench ');

const tcp = createServer((socket) => {
  socket.on('error', () => {}); // the load generator destroys its connections at the end
  const pump = () => {
    while (!socket.destroyed && socket.write(chunk));
  };
  socket.on('drain', pump);
  pump();
});
const udp = createSocket('udp4');
udp.on('message', (datagram, from) => udp.send(datagram, from.port, from.address));

tcp.listen(0, '127.0.0.1', () => {
  udp.bind(0, '127.0.0.1', () => {
    const tcpPort = (tcp.address() as { port: number }).port;
    console.log(JSON.stringify({ msg: 'backend ready', tcpPort, udpPort: udp.address().port }));
  });
});
process.once('SIGTERM', () => process.exit(0));
