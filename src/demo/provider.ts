// A local OpenID provider that behaves like an Amazon Cognito user pool, for the tests and for
// `portcullis demo`: oidc-provider (OpenID Certified) configured and wrapped so that what a
// relying party sees is Cognito's shape (docs/cognito.md):
//
//   GET  /<region>_<pool>/.well-known/openid-configuration  Cognito's discovery document
//   GET  /<region>_<pool>/.well-known/jwks.json              two RSA keys: ID tokens, access tokens
//   GET  /oauth2/authorize                                   code flow, PKCE S256 required
//   POST /oauth2/token                                       authorization_code, refresh_token,
//                                                            client_credentials; basic or post auth
//   GET  /oauth2/userInfo                                    with an access token (scope openid)
//   POST /oauth2/revoke                                      a refresh token (and its grant)
//   GET  /logout?client_id=…&logout_uri=…                    Cognito's logout (not RP-initiated)
//   GET  /interaction/<uid>, POST /interaction/<uid>/login   the sign-in form (login-form.ts)
//
// Access tokens are JWTs with Cognito's claims in Cognito's order and no `aud`; ID tokens carry
// `token_use: "id"`, `cognito:username`, `cognito:groups` and `custom:*`. A refresh returns no
// new refresh token. Everything lives in the object that startCognitoLikeProvider() returns.

import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createLocalJWKSet, jwtVerify } from 'jose';
import Provider, { errors, type AccessTokenModel, type Account, type Client, type KoaContextWithOIDC, type OIDCContext, type StructuredJwt } from 'oidc-provider';
import { createMemoryAdapter } from 'oidc-provider/lib/adapters/memory_adapter.js';
import {
  cognitoClientId,
  cognitoClientSecret,
  cognitoDiscovery,
  cognitoIssuer,
  customClaims,
  machineAccessTokenClaims,
  privateJwk,
  userAccessTokenClaims,
  uuidFrom,
  type Claims,
} from './cognito-shapes.ts';
import { closeServer, createOutageSwitch, escapeHTML, listenOnLoopback, sendHTML, sendJSON, type Outage } from './http.ts';
import { createKeyRing, type KeyRotation } from './key-ring.ts';
import { handleLoginForm } from './login-form.ts';
import { DEMO_USERS, type DemoUser } from './users.ts';

/** Token and session lifetimes, in seconds. */
export interface Lifetimes {
  /** Access tokens of users and machines (Cognito's default: 60 min). */
  readonly accessToken: number;
  readonly idToken: number;
  /** Cognito's default: 30 days. */
  readonly refreshToken: number;
  /** The provider's own sign-in session (its cookie): signed in again without the form. */
  readonly session: number;
  /** Cognito's codes live 5 minutes. */
  readonly authorizationCode: number;
}

export interface CognitoLikeProviderOptions {
  /** Default 0: any free port on 127.0.0.1. */
  readonly port?: number;
  /** Default `us-east-1`. */
  readonly region?: string;
  /** Default `Demo12345`: the issuer path is `/<region>_<pool>`. */
  readonly pool?: string;
  /** Default DEMO_USERS (alice, bob). */
  readonly users?: readonly DemoUser[];
  readonly webClient?: {
    readonly clientId?: string;
    readonly clientSecret?: string;
    /** Callback URLs; default `http://127.0.0.1:9080/oauth2/callback` and the `localhost` one. */
    readonly redirectURIs?: readonly string[];
    /** Cognito's "sign-out URLs", for /logout's `logout_uri`. */
    readonly logoutURIs?: readonly string[];
    /** Allowed scopes; default openid, email, phone, profile, aws.cognito.signin.user.admin. */
    readonly scopes?: readonly string[];
  };
  readonly machineClient?: {
    readonly clientId?: string;
    readonly clientSecret?: string;
    /** Allowed custom scopes; default `default-m2m-resource-server/read` and `/write`. */
    readonly scopes?: readonly string[];
  };
  readonly lifetimes?: Partial<Lifetimes>;
}

export interface WebClient {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly redirectURIs: readonly string[];
  readonly logoutURIs: readonly string[];
  readonly scopes: readonly string[];
}

export interface MachineClient {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly scopes: readonly string[];
}

export interface CognitoLikeProvider {
  /** `http://127.0.0.1:PORT/<region>_<pool>`: the `iss` of every token. */
  readonly issuer: string;
  /** `<issuer>/.well-known/openid-configuration` */
  readonly discoveryURL: string;
  /** `<issuer>/.well-known/jwks.json` */
  readonly jwksURL: string;
  /** `http://127.0.0.1:PORT`: the "user pool domain" where the other endpoints live. */
  readonly origin: string;
  readonly port: number;
  readonly clients: { readonly web: WebClient; readonly machine: MachineClient };
  readonly users: readonly DemoUser[];
  /** Calls of the token endpoint so far, by `grant_type` (failed ones included). */
  tokenEndpointCalls(): Readonly<Record<string, number>>;
  /** Requests for the discovery document and the JWKS so far (refused ones included). */
  metadataFetches(): { readonly discovery: number; readonly jwks: number };
  /** The `kid`s that sign access tokens and ID tokens now. */
  signingKids(): { readonly access: string; readonly id: string };
  /** Adds a new signing key and makes it the active one; answers its `kid`. */
  rotateKey(rotation?: KeyRotation): Promise<string>;
  /** Fails the discovery and JWKS endpoints (or, with `endpoints: 'all'`, every endpoint). */
  down(how?: Outage, options?: { readonly endpoints?: 'metadata' | 'all' }): void;
  up(): void;
  /** Errors oidc-provider reported as `server_error` (a test can assert there were none). */
  serverErrors(): readonly Error[];
  close(): Promise<void>;
}

const DEFAULT_LIFETIMES: Lifetimes = {
  accessToken: 3600,
  idToken: 3600,
  refreshToken: 30 * 24 * 3600,
  session: 3600,
  authorizationCode: 300,
};

/** Scopes that are OpenID Connect's (and Cognito's own); every other scope is a resource server's. */
const OIDC_SCOPES = ['openid', 'email', 'phone', 'profile', 'aws.cognito.signin.user.admin'];
const DEFAULT_MACHINE_SCOPES = ['default-m2m-resource-server/read', 'default-m2m-resource-server/write'];
/**
 * oidc-provider issues JWT access tokens only for a resource server; this one stands for all of
 * Cognito's scopes, and every authorization request and token request defaults to it.
 */
const RESOURCE = 'urn:portcullis:demo:cognito-resource-servers';

export async function startCognitoLikeProvider(options: CognitoLikeProviderOptions = {}): Promise<CognitoLikeProvider> {
  const users = options.users ?? DEMO_USERS;
  const lifetimes: Lifetimes = { ...DEFAULT_LIFETIMES, ...options.lifetimes };
  const serverErrors: Error[] = [];
  const tokenCalls = new Map<string, number>();
  const fetches = { discovery: 0, jwks: 0 };
  const outage = createOutageSwitch();
  let outageEndpoints: 'metadata' | 'all' = 'metadata';

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      serverErrors.push(error instanceof Error ? error : new Error(String(error)));
      if (!res.headersSent) sendJSON(res, 500, { error: 'server_error' });
      else res.destroy();
    });
  });
  const { origin, port } = await listenOnLoopback(server, options.port);
  const issuer = cognitoIssuer(origin, options.region ?? 'us-east-1', options.pool ?? 'Demo12345');
  const issuerPath = new URL(issuer).pathname;
  const discoveryPath = `${issuerPath}/.well-known/openid-configuration`;
  const jwksPath = `${issuerPath}/.well-known/jwks.json`;

  const web: WebClient = {
    clientId: options.webClient?.clientId ?? cognitoClientId(),
    clientSecret: options.webClient?.clientSecret ?? cognitoClientSecret(),
    redirectURIs: options.webClient?.redirectURIs ?? ['http://127.0.0.1:9080/oauth2/callback', 'http://localhost:9080/oauth2/callback'],
    logoutURIs: options.webClient?.logoutURIs ?? ['http://127.0.0.1:9080/', 'http://localhost:9080/'],
    scopes: options.webClient?.scopes ?? OIDC_SCOPES,
  };
  const machine: MachineClient = {
    clientId: options.machineClient?.clientId ?? cognitoClientId(),
    clientSecret: options.machineClient?.clientSecret ?? cognitoClientSecret(),
    scopes: options.machineClient?.scopes ?? DEFAULT_MACHINE_SCOPES,
  };

  const allowedScopes = new Map<string, readonly string[]>([
    [web.clientId, web.scopes],
    [machine.clientId, machine.scopes],
  ]);

  // Like a Cognito pool: one key signs ID tokens, another access tokens. oidc-provider signs ID
  // tokens with the first RS256 key of its keystore (the ring lists the ID key first), and access
  // tokens with the resource server's `kid`.
  const keys = await createKeyRing();
  // Sessions, interactions, grants and refresh tokens outlive a rebuild (key rotation): one
  // store and one set of cookie keys for every oidc-provider instance of this provider.
  const adapter = createMemoryAdapter();
  const cookieKeys = [randomBytes(32).toString('base64url')];
  let provider = build();
  let callback = provider.callback();

  function build(): Provider {
    const built = new Provider(issuer, {
      adapter,
      clients: [
        {
          client_id: web.clientId,
          client_secret: web.clientSecret,
          redirect_uris: [...web.redirectURIs],
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          // Either works at the token endpoint, as with Cognito: oidc-provider accepts
          // client_secret_post for a client registered with client_secret_basic, and back.
          token_endpoint_auth_method: 'client_secret_basic',
          // oidc-provider's client `scope` holds OpenID scopes only; allowedScopes has the rest.
          scope: web.scopes.filter((scope) => OIDC_SCOPES.includes(scope)).join(' '),
          require_auth_time: true,
        },
        {
          client_id: machine.clientId,
          client_secret: machine.clientSecret,
          redirect_uris: [],
          grant_types: ['client_credentials'],
          response_types: [],
          token_endpoint_auth_method: 'client_secret_basic',
        },
      ],
      jwks: { keys: keys.published().map(privateJwk) },
      cookies: { keys: cookieKeys, names: { session: 'op_session', interaction: 'op_interaction', resume: 'op_resume' } },
      claims: claimsByScope(users),
      conformIdTokenClaims: false,
      scopes: OIDC_SCOPES,
      responseTypes: ['code'],
      enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
      routes: {
        authorization: '/oauth2/authorize',
        token: '/oauth2/token',
        revocation: '/oauth2/revoke',
        jwks: jwksPath,
      },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        revocation: { enabled: true, allowedPolicy: async (_ctx: unknown, client: Client, token: { clientId?: string }) => token.clientId === client.clientId },
        // oidc-provider's userinfo cannot read the JWT access tokens; /oauth2/userInfo is below.
        userinfo: { enabled: false },
        // Cognito has neither; its logout is /logout below.
        rpInitiatedLogout: { enabled: false },
        pushedAuthorizationRequests: { enabled: false },
        dPoP: { enabled: false },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => RESOURCE,
          useGrantedResource: () => true,
          getResourceServerInfo: resourceServerInfo,
        },
      },
      formats: { customizers: { jwt: cognitoAccessToken } },
      findAccount,
      loadExistingGrant,
      interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
      // Cognito issues a refresh token to every code exchange of a client allowed to refresh
      // (no offline_access scope), and by default returns no new one when it is used.
      issueRefreshToken: async (_ctx: unknown, client: Client) => client.grantTypeAllowed('refresh_token'),
      rotateRefreshToken: false,
      expiresWithSession: async () => false,
      // Stricter than Cognito, which takes a code flow without PKCE: every code request must carry
      // an S256 challenge (oidc-provider 9 knows no other method), so that the tests prove ours does.
      pkce: { required: () => true },
      ttl: {
        AccessToken: lifetimes.accessToken,
        ClientCredentials: lifetimes.accessToken,
        IdToken: lifetimes.idToken,
        RefreshToken: lifetimes.refreshToken,
        AuthorizationCode: lifetimes.authorizationCode,
        Session: lifetimes.session,
        Grant: Math.max(lifetimes.refreshToken, lifetimes.session),
        Interaction: 600,
      },
      renderError: (ctx: KoaContextWithOIDC, out: Record<string, unknown>) => {
        ctx.type = 'html';
        ctx.body = `<!doctype html><title>Error</title><h1>${escapeHTML(String(out.error))}</h1><p>${escapeHTML(String(out.error_description ?? ''))}</p>`;
      },
    });
    built.on('server_error', (_ctx: unknown, error: Error) => serverErrors.push(error));
    built.use(async (ctx, next) => {
      await next();
      const oidc = ctx.oidc as OIDCContext | undefined;
      if (oidc?.route !== 'token') return;
      const grantType = typeof oidc.params?.grant_type === 'string' ? oidc.params.grant_type : '(none)';
      tokenCalls.set(grantType, (tokenCalls.get(grantType) ?? 0) + 1);
      // Without rotation oidc-provider answers a refresh with the same refresh token; Cognito
      // answers with none, and the client keeps the one it has.
      const body = ctx.body as Record<string, unknown> | undefined;
      if (grantType === 'refresh_token' && body?.refresh_token !== undefined && body.refresh_token === oidc.params?.refresh_token) {
        delete body.refresh_token;
      }
    });
    return built;
  }

  function resourceServerInfo(ctx: KoaContextWithOIDC, resource: string, client: Client) {
    if (resource !== RESOURCE) throw new errors.InvalidTarget();
    const allowed = allowedScopes.get(client.clientId) ?? [];
    const params = ctx.oidc.params as Record<string, unknown> | undefined;
    if (ctx.oidc.route === 'token' && params?.grant_type === 'client_credentials') {
      // Cognito: no scope asks for every scope the client is allowed; any other is invalid_scope.
      // (oidc-provider reads the scope parameter after this hook, so the default applies.)
      if (params.scope === undefined) params.scope = allowed.join(' ');
      const refused = String(params.scope).split(' ').filter((scope) => !allowed.includes(scope));
      if (refused.length > 0) throw new errors.InvalidScope('requested scope is not allowed', refused.join(' '));
    }
    return { scope: allowed.join(' '), audience: client.clientId, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256', kid: keys.active('access').kid } } };
  }

  // Cognito has no consent screen: the app client gets what it asks for, within its allowed scopes.
  async function loadExistingGrant(ctx: KoaContextWithOIDC) {
    const { client, session, provider: current } = ctx.oidc;
    if (client === undefined || session?.accountId === undefined) return undefined;
    const grantId = ctx.oidc.result?.consent?.grantId ?? session.grantIdFor(client.clientId);
    const grant = (grantId === undefined ? undefined : await current.Grant.find(grantId)) ?? new current.Grant({ accountId: session.accountId, clientId: client.clientId });
    const allowed = allowedScopes.get(client.clientId) ?? [];
    const requested = [...ctx.oidc.requestParamScopes].filter((scope) => allowed.includes(scope));
    grant.addOIDCScope(requested.filter((scope) => OIDC_SCOPES.includes(scope)).join(' '));
    grant.addOIDCClaims([...ctx.oidc.requestParamClaims]);
    grant.addResourceScope(RESOURCE, requested.join(' '));
    await grant.save();
    return grant;
  }

  async function findAccount(ctx: KoaContextWithOIDC, sub: string): Promise<Account | undefined> {
    const user = users.find((candidate) => candidate.sub === sub);
    if (user === undefined) return undefined;
    return {
      accountId: user.sub,
      claims: (use) => (use === 'id_token' ? idTokenAttributes(ctx, user) : userInfoClaims(user)),
    };
  }

  // oidc-provider adds `aud`, `exp`, `iat`, `iss` and `sub` itself, and `auth_time` and `nonce`.
  function idTokenAttributes(ctx: KoaContextWithOIDC, user: DemoUser): Claims {
    const grantId = ctx.oidc.entities.Grant?.jti ?? '';
    return {
      sub: user.sub,
      ...(user.groups.length > 0 ? { 'cognito:groups': [...user.groups] } : {}),
      email_verified: user.emailVerified,
      'cognito:username': user.username,
      origin_jti: uuidFrom(`${grantId}:origin_jti`),
      event_id: uuidFrom(`${grantId}:event_id`),
      token_use: 'id',
      jti: randomUUID(),
      email: user.email,
      ...customClaims(user.customAttributes),
    };
  }

  function userInfoClaims(user: DemoUser): Claims {
    return { sub: user.sub, email_verified: user.emailVerified, email: user.email, username: user.username, ...customClaims(user.customAttributes) };
  }

  async function cognitoAccessToken(ctx: KoaContextWithOIDC | undefined, token: AccessTokenModel, jwt: StructuredJwt): Promise<void> {
    const { payload } = jwt;
    const times = { iat: Number(payload.iat), exp: Number(payload.exp), jti: String(payload.jti) };
    const scope = typeof payload.scope === 'string' ? payload.scope : '';
    const user = token.accountId === undefined ? undefined : users.find((candidate) => candidate.sub === token.accountId);
    const entities = ctx?.oidc.entities;
    const claims =
      user === undefined
        ? machineAccessTokenClaims({ issuer, clientId: token.clientId, scope, ...times })
        : userAccessTokenClaims({
            issuer,
            clientId: token.clientId,
            user,
            scope,
            authTime: entities?.AuthorizationCode?.authTime ?? entities?.RefreshToken?.authTime ?? times.iat,
            originJti: uuidFrom(`${token.grantId ?? ''}:origin_jti`),
            eventId: uuidFrom(`${token.grantId ?? ''}:event_id`),
            ...times,
          });
    // oidc-provider refuses to sign a JWT access token whose payload has no `aud`, then signs
    // JSON.stringify(payload). Cognito's access tokens have no `aud`: the payload keeps a truthy
    // `aud` for that check and serialises (toJSON) as exactly Cognito's claims, in their order.
    // test/demo/provider.test.ts pins this against the pinned oidc-provider version.
    jwt.payload = { aud: payload.aud, toJSON: () => claims };
    // Cognito's header has no `typ` (oidc-provider would write `at+jwt`); undefined drops it.
    jwt.header = { typ: undefined };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', origin);
    const path = url.pathname;
    const isMetadata = path === discoveryPath || path === jwksPath;
    if (path === discoveryPath) fetches.discovery += 1;
    if (path === jwksPath) fetches.jwks += 1;
    if ((isMetadata || outageEndpoints === 'all') && outage.refuse(req, res)) return;

    if (path === discoveryPath) {
      sendJSON(res, 200, cognitoDiscovery(issuer, origin));
      return;
    }
    if (path === jwksPath) {
      // Served here rather than by oidc-provider, to list each key's members in Cognito's order.
      sendJSON(res, 200, keys.jwks());
      return;
    }
    if (path === '/.well-known/openid-configuration') {
      // Only under the issuer, as with Cognito (oidc-provider would answer its own document here).
      sendJSON(res, 404, { message: 'Not Found' });
      return;
    }
    if (path === '/oauth2/userInfo') {
      await cognitoUserInfo(req, res);
      return;
    }
    if (path === '/logout') {
      await cognitoLogout(req, res, url);
      return;
    }
    if (await handleLoginForm(provider, users, req, res, path)) return;
    callback(req, res);
  }

  // Cognito's userInfo: a valid access token with the openid scope answers the user's attributes.
  async function cognitoUserInfo(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const token = /^Bearer +(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const keySet = createLocalJWKSet({ keys: keys.jwks().keys.map((jwk) => ({ ...jwk })) });
    const payload = token === undefined ? undefined : await jwtVerify(token, keySet, { issuer, algorithms: ['RS256'] }).then((result) => result.payload, () => undefined);
    const user = users.find((candidate) => candidate.sub === payload?.sub);
    const scopes = typeof payload?.scope === 'string' ? payload.scope.split(' ') : [];
    if (payload?.token_use !== 'access' || !scopes.includes('openid') || user === undefined) {
      sendJSON(res, 401, { error: 'invalid_token', error_description: 'Access token is missing, invalid or expired.' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
      return;
    }
    sendJSON(res, 200, userInfoClaims(user));
  }

  // Cognito's /logout: the logout_uri must be one of the client's sign-out URLs; the provider's
  // session ends (the next authorization shows the form again); tokens already issued stay valid.
  async function cognitoLogout(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const logoutURI = url.searchParams.get('logout_uri');
    if (url.searchParams.get('client_id') !== web.clientId || logoutURI === null || !web.logoutURIs.includes(logoutURI)) {
      sendHTML(res, 400, '<!doctype html><title>Error</title><h1>An error was encountered with the requested page.</h1>');
      return;
    }
    const ctx = provider.createContext(req, res);
    const session = await provider.Session.get(ctx);
    await session.destroy();
    ctx.cookies.set(provider.cookieName('session'), null);
    res.writeHead(302, { location: logoutURI, 'cache-control': 'no-store' });
    res.end();
  }

  return {
    issuer,
    discoveryURL: `${origin}${discoveryPath}`,
    jwksURL: `${origin}${jwksPath}`,
    origin,
    port,
    clients: { web, machine },
    users,
    tokenEndpointCalls: () => Object.fromEntries(tokenCalls),
    metadataFetches: () => ({ ...fetches }),
    signingKids: () => ({ access: keys.active('access').kid, id: keys.active('id').kid }),
    async rotateKey(rotation) {
      const key = await keys.rotate(rotation);
      // oidc-provider reads its keystore once: a new instance takes over, with the same store.
      provider = build();
      callback = provider.callback();
      return key.kid;
    },
    down(how, { endpoints = 'metadata' } = {}) {
      outageEndpoints = endpoints;
      outage.down(how);
    },
    up: () => outage.up(),
    serverErrors: () => [...serverErrors],
    close: () => closeServer(server),
  };
}

/**
 * Which claims each scope releases. Cognito puts every readable attribute in the ID token for
 * `openid`; the `email` scope lists its two as well.
 */
function claimsByScope(users: readonly DemoUser[]): Record<string, readonly string[] | null> {
  const custom = [...new Set(users.flatMap((user) => Object.keys(user.customAttributes ?? {})))].map((name) => `custom:${name}`);
  return {
    acr: null,
    auth_time: null,
    iss: null,
    sid: null,
    openid: ['sub', 'token_use', 'cognito:username', 'cognito:groups', 'username', 'email', 'email_verified', 'origin_jti', 'event_id', 'jti', ...custom],
    email: ['email', 'email_verified'],
  };
}
