// An edge with an HTTPS listener on an ephemeral port, and TLS clients for it: a handshake that
// reports which certificate the edge chose, and undici/HTTP/2 requests trusting the test CA.

import type { TestContext } from 'node:test';
import { connect, type ConnectionOptions, type PeerCertificate, type TLSSocket } from 'node:tls';
import { Agent, request } from 'undici';
import { startNode, type NodeSpec, type TestEdge } from './edge.js';
import type { CertFiles, TestCa } from './tls-certs.js';

export interface HttpsEdge extends TestEdge {
  httpsPort: number;
  httpsUrl: string;
}

/**
 * Starts an edge whose HTTPS listener serves `certificates`; `input` is the rest of the config
 * (sites at least), and `https` adds keys to listen.https.
 */
export async function startHttpsEdge(
  t: TestContext,
  certificates: CertFiles[],
  input: Record<string, unknown>,
  https: Record<string, unknown> = {},
  spec: NodeSpec = {},
): Promise<HttpsEdge> {
  const edge = await startNode(
    t,
    {
      listen: {
        http: '127.0.0.1:0',
        admin: '127.0.0.1:0',
        https: { address: '127.0.0.1:0', certificates, ...https },
      },
      ...input,
    },
    spec,
  );
  const httpsPort = edge.node.https!.port;
  return { ...edge, httpsPort, httpsUrl: `https://127.0.0.1:${httpsPort}` };
}

export interface Handshake {
  socket: TLSSocket;
  cert: PeerCertificate;
  protocol: string | null;
  resumed: boolean;
}

/** Opens a TLS connection (SNI `servername`, or none) trusting the CA; resolves after the handshake. */
export function handshake(port: number, ca: TestCa, options: ConnectionOptions = {}): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: ca.cert, ALPNProtocols: ['http/1.1'], ...options });
    socket.once('secureConnect', () =>
      resolve({
        socket,
        cert: socket.getPeerCertificate(),
        protocol: socket.getProtocol(),
        resumed: socket.isSessionReused(),
      }),
    );
    socket.once('error', reject);
  });
}

/** An undici agent that trusts the test CA and sends `servername` as SNI. */
export function tlsAgent(t: TestContext, ca: TestCa, servername: string): Agent {
  const agent = new Agent({ connect: { ca: ca.cert, servername } });
  t.after(() => agent.close());
  return agent;
}

/** GET over HTTPS/1.1 with undici; resolves with status, headers and body. */
export async function httpsGet(
  agent: Agent,
  url: string,
  host: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const res = await request(url, { dispatcher: agent, headers: { host, ...headers } });
  return {
    status: res.statusCode,
    headers: res.headers as Record<string, string | string[] | undefined>,
    body: await res.body.text(),
  };
}
