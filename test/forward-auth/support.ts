// What the forward-auth suites share: a check sent as a calling proxy would send it (node:http,
// so that Host and every other header go out as written), and the manifests of the walkthrough.
import { request } from 'node:http';
import type { CognitoLikeProvider } from '../../src/demo/provider.ts';
import { policyYAML, routeYAML, secretYAML } from '../support/manifests.ts';

export interface CheckAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  /** The JSON error's code, when the body is one. */
  readonly code: string | undefined;
}

export interface CheckOptions {
  readonly method?: string;
  readonly path?: string;
  /** The address the check comes from (127.0.0.2: a peer that is not trusted). */
  readonly localAddress?: string;
}

/** Sends one check to `listener` (a URL) with exactly `headers` (Host included), and reads the answer. */
export function sendCheck(listener: string, headers: Record<string, string>, options: CheckOptions = {}): Promise<CheckAnswer> {
  const { hostname, port } = new URL(listener);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method: options.method ?? 'GET', path: options.path ?? '/', headers, localAddress: options.localAddress }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        let code: string | undefined;
        try {
          code = (JSON.parse(body) as { error?: { code?: string } }).error?.code;
        } catch {
          code = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, code });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** The token endpoint's answer to the machine client's client-credentials grant. */
export async function clientCredentialsToken(idp: CognitoLikeProvider): Promise<string> {
  const { clientId, clientSecret } = idp.clients.machine;
  const discovery = (await (await fetch(idp.discoveryURL)).json()) as { token_endpoint: string };
  const response = await fetch(discovery.token_endpoint, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'default-m2m-resource-server/read' }),
  });
  if (response.status !== 200) throw new Error(`The token endpoint answered ${response.status}.`);
  return ((await response.json()) as { access_token: string }).access_token;
}

/**
 * The walkthrough's manifests: `machines` (bearer tokens of the machine client) and `web` (browser
 * sign-in with the web client). `api` is AuthOnly: /protected for machines, /public public; `app`
 * is AuthOnly for browsers; `upstream` proxies to `upstreamURL` except its AuthOnly /checked rule.
 */
export function walkthroughManifests(idp: CognitoLikeProvider, hosts: { api: string; app: string }, upstreamURL: string): string {
  return (
    secretYAML('web-client', { secret: idp.clients.web.clientSecret }) +
    policyYAML('machines', `  issuer: ${idp.issuer}
  provider: Cognito
  clientID: ${idp.clients.machine.clientId}
  bearer: {}
  forward: {headers: {X-Client-Id: client_id}}`) +
    policyYAML('web', `  issuer: ${idp.issuer}
  provider: Cognito
  clientID: ${idp.clients.web.clientId}
  clientSecretRef: {name: web-client, key: secret}
  scopes: [openid, email, profile]
  browser: {postLogoutRedirectURL: /public/signed-out}
  forward: {headers: {X-User-Email: email, X-User-Name: username}}`) +
    routeYAML('api', `  hostnames: [${hosts.api}]
  policyRef: {name: machines}
  mode: AuthOnly
  rules:
    - matches: [{path: {value: /protected}}]
    - matches: [{path: {value: /public}}]
      public: true`) +
    routeYAML('app', `  hostnames: [${hosts.app}]
  policyRef: {name: web}
  mode: AuthOnly
  rules:
    - matches: [{path: {value: /}}]
    - matches: [{path: {value: /public}}]
      public: true`) +
    routeYAML('upstream', `  hostnames: [proxied.example.com]
  policyRef: {name: machines}
  rules:
    - matches: [{path: {value: /}}]
      backends: [{url: "${upstreamURL}"}]
    - matches: [{path: {value: /checked}}]
      mode: AuthOnly`)
  );
}
