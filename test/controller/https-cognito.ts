// A Cognito-shaped provider over HTTPS, for controller mode (which refuses http:// issuers):
// the mint's keys and tokens (src/demo/cognito-mint.ts) behind an issuer on https://127.0.0.1,
// with a certificate from a throw-away CA that the controller process trusts through
// NODE_EXTRA_CA_CERTS. Its token endpoint records the client credentials each code exchange
// presents (and refuses the exchange), so a test can see which client secret the proxy uses.
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { startCognitoMint, type CognitoMint } from '../../src/demo/cognito-mint.ts';
import { cognitoDiscovery, cognitoIssuer, type Claims } from '../../src/demo/cognito-shapes.ts';
import { sendJSON } from '../../src/demo/http.ts';
import type { TestPki } from '../support/tls.ts';

export interface HttpsCognito {
  readonly issuer: string;
  readonly mint: CognitoMint;
  /** A client credentials access token from this issuer (`client_id` = the mint's machine client). */
  token(overrides?: Claims): string;
  /** `client_id:client_secret` of each code exchange, oldest first. */
  readonly exchanges: string[];
  /** Stops listening (connections are refused) until start(). */
  stop(): Promise<void>;
  /** Listens again, on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startHttpsCognito(pki: TestPki): Promise<HttpsCognito> {
  const mint = await startCognitoMint();
  const exchanges: string[] = [];
  let issuer = '';
  let issuerPath = '';
  let origin = '';
  const server: Server = createServer({ key: pki.serverKey, cert: pki.serverCert }, (req, res) => {
    const path = new URL(req.url ?? '/', 'https://provider').pathname;
    if (path === `${issuerPath}/.well-known/openid-configuration`) return sendJSON(res, 200, cognitoDiscovery(issuer, origin));
    if (path === `${issuerPath}/.well-known/jwks.json`) return sendJSON(res, 200, mint.jwks());
    if (path === '/oauth2/token' && req.method === 'POST') {
      const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
      exchanges.push(basic === undefined ? '' : Buffer.from(basic, 'base64').toString('utf8').split(':').map(decodeURIComponent).join(':'));
      req.resume();
      return sendJSON(res, 400, { error: 'invalid_grant' });
    }
    sendJSON(res, 404, { message: 'Not Found' });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  origin = `https://127.0.0.1:${port}`;
  let listening = true;
  const stop = async () => {
    if (!listening) return;
    listening = false;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  issuer = cognitoIssuer(origin, 'us-east-1', 'Https12345');
  issuerPath = new URL(issuer).pathname;
  return {
    issuer,
    mint,
    exchanges,
    token: (overrides = {}) => mint.mint({ iss: issuer, ...overrides }),
    stop,
    async start() {
      if (listening) return;
      server.listen(port, '127.0.0.1');
      await once(server, 'listening');
      listening = true;
    },
    async close() {
      await stop();
      await mint.close();
    },
  };
}
