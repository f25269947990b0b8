// A token minter with its own issuer, discovery document and JWKS, for what oidc-provider
// cannot produce: tokens byte-for-byte in Cognito's shape (header `{"kid":…,"alg":"RS256"}` in
// that order, claims in Cognito's order, `/` written `\/` as Cognito's serialiser does, no
// `aud` on access tokens), and forgeries of every kind — `alg: none`, HMAC signed with the public
// key, unknown `kid`, tampered or non-JSON payloads, missing or wrong claims.
//
//   GET /<region>_<pool>/.well-known/openid-configuration   Cognito's discovery document
//   GET /<region>_<pool>/.well-known/jwks.json              the published keys (fetches counted)
//
// The other endpoints the discovery document names are not served (404): tokens come from mint().

import { createHmac, sign as signWith, constants, type KeyObject } from 'node:crypto';
import { createServer } from 'node:http';
import {
  cognitoClientId,
  cognitoDiscovery,
  cognitoIssuer,
  idTokenClaims,
  machineAccessTokenClaims,
  userAccessTokenClaims,
  type Claims,
  type CognitoJwk,
  type SigningKey,
} from './cognito-shapes.ts';
import { closeServer, createOutageSwitch, listenOnLoopback, sendJSON, type Outage } from './http.ts';
import { createKeyRing, type KeyRotation } from './key-ring.ts';
import { DEMO_USERS, type DemoUser } from './users.ts';

export interface CognitoMintOptions {
  /** Default 0: any free port on 127.0.0.1. */
  readonly port?: number;
  /** Default `us-east-1`. */
  readonly region?: string;
  /** Default `Mint12345`: the issuer is `http://127.0.0.1:PORT/<region>_<pool>`. */
  readonly pool?: string;
  /** `client_id` of users' access tokens and `aud` of ID tokens; default a random Cognito-like ID. */
  readonly webClientId?: string;
  /** `client_id` and `sub` of machine tokens; default a random Cognito-like ID. */
  readonly machineClientId?: string;
  /** Scope of machine tokens; default `default-m2m-resource-server/read`. */
  readonly machineScope?: string;
  /** The user of `access` and `id` tokens; default alice. */
  readonly user?: DemoUser;
  /** Seconds from `iat` to `exp`; default 3600. */
  readonly lifetime?: number;
  /** The clock for `iat`, `auth_time` and `exp`, in epoch seconds; default the system clock. */
  readonly now?: () => number;
}

/** `machine`: client credentials access token; `access`: a user's access token; `id`: ID token. */
export type TokenKind = 'machine' | 'access' | 'id';

export interface MintOptions {
  /** Which claim set the overrides apply to; default `machine`. */
  readonly kind?: TokenKind;
  /** The header's `kid`; default the key that signs this kind now (access and ID keys differ). */
  readonly kid?: string;
  /** The header's `alg` and the algorithm used: RS256/384/512, PS256/384/512, HS256/384/512 or `none`. */
  readonly alg?: string;
  /**
   * What signs: default the private key named by `kid` (or, for an unknown `kid`, the active
   * key). An RSA private KeyObject for RS/PS; for HS, the secret as text or bytes (e.g. a key's
   * `publicKeyPEM`, the classic key-confusion forgery).
   */
  readonly key?: KeyObject | string | Uint8Array;
  /** Merged over `{kid, alg}` (in that order); a member set to undefined is removed. */
  readonly header?: Readonly<Record<string, unknown>>;
  /** The payload segment's text, instead of the claims' JSON (non-JSON payloads). */
  readonly payload?: string;
  /** The signature segment (base64url), instead of computing one. */
  readonly signature?: string;
}

export interface CognitoMint {
  readonly issuer: string;
  readonly discoveryURL: string;
  readonly jwksURL: string;
  readonly origin: string;
  readonly port: number;
  readonly clientIds: { readonly web: string; readonly machine: string };
  readonly user: DemoUser;
  /** The claim set of a `kind` of token, with the overrides merged in (undefined removes a claim). */
  claims(kind?: TokenKind, overrides?: Claims): Claims;
  /** A compact JWS of `claims(options.kind, overrides)`, signed and shaped as the options say. */
  mint(overrides?: Claims, options?: MintOptions): string;
  /** The key that signs this kind of token now. */
  activeKey(kind?: TokenKind): SigningKey;
  /** The published keys, as the JWKS lists them. */
  jwks(): { keys: CognitoJwk[] };
  /** Requests for the discovery document and the JWKS so far (refused ones included). */
  metadataFetches(): { readonly discovery: number; readonly jwks: number };
  /** Adds a new signing key and makes it the active one; answers its `kid`. */
  rotateKey(rotation?: KeyRotation): Promise<string>;
  /** Fails the discovery and JWKS endpoints until up(). */
  down(how?: Outage): void;
  up(): void;
  close(): Promise<void>;
}

export async function startCognitoMint(options: CognitoMintOptions = {}): Promise<CognitoMint> {
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  const lifetime = options.lifetime ?? 3600;
  const user = options.user ?? (DEMO_USERS[0] as DemoUser);
  const clientIds = { web: options.webClientId ?? cognitoClientId(), machine: options.machineClientId ?? cognitoClientId() };
  const machineScope = options.machineScope ?? 'default-m2m-resource-server/read';
  const keys = await createKeyRing();
  const fetches = { discovery: 0, jwks: 0 };
  const outage = createOutageSwitch();

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://mint').pathname;
    const isDiscovery = path === `${issuerPath}/.well-known/openid-configuration`;
    const isJwks = path === `${issuerPath}/.well-known/jwks.json`;
    if (isDiscovery) fetches.discovery += 1;
    if (isJwks) fetches.jwks += 1;
    if ((isDiscovery || isJwks) && outage.refuse(req, res)) return;
    if (isDiscovery) sendJSON(res, 200, cognitoDiscovery(issuer, origin));
    else if (isJwks) sendJSON(res, 200, keys.jwks());
    else sendJSON(res, 404, { message: 'Not Found' });
  });
  const { origin, port } = await listenOnLoopback(server, options.port);
  const issuer = cognitoIssuer(origin, options.region ?? 'us-east-1', options.pool ?? 'Mint12345');
  const issuerPath = new URL(issuer).pathname;

  function claims(kind: TokenKind = 'machine', overrides: Claims = {}): Claims {
    const iat = now();
    const times = { iat, exp: iat + lifetime };
    const base =
      kind === 'machine'
        ? machineAccessTokenClaims({ issuer, clientId: clientIds.machine, scope: machineScope, ...times })
        : kind === 'access'
          ? userAccessTokenClaims({ issuer, clientId: clientIds.web, user, scope: 'openid email phone', authTime: iat, ...times })
          : idTokenClaims({ issuer, clientId: clientIds.web, user, authTime: iat, ...times });
    // Spreading keeps the base order for overridden claims and appends new ones, as Cognito would.
    return Object.fromEntries(Object.entries({ ...base, ...overrides }).filter(([, value]) => value !== undefined));
  }

  const activeKey = (kind: TokenKind = 'machine'): SigningKey => keys.active(kind === 'id' ? 'id' : 'access');

  function mint(overrides: Claims = {}, mintOptions: MintOptions = {}): string {
    const kind = mintOptions.kind ?? 'machine';
    const kid = mintOptions.kid ?? activeKey(kind).kid;
    const alg = mintOptions.alg ?? 'RS256';
    const header = Object.fromEntries(Object.entries({ kid, alg, ...mintOptions.header }).filter(([, value]) => value !== undefined));
    const signingInput = `${segment(cognitoJSON(header))}.${segment(mintOptions.payload ?? cognitoJSON(claims(kind, overrides)))}`;
    const key = mintOptions.key ?? (keys.find(kid) ?? activeKey(kind)).privateKey;
    const signature = mintOptions.signature ?? computeSignature(String(header.alg ?? alg), key, signingInput).toString('base64url');
    return `${signingInput}.${signature}`;
  }

  return {
    issuer,
    discoveryURL: `${issuer}/.well-known/openid-configuration`,
    jwksURL: `${issuer}/.well-known/jwks.json`,
    origin,
    port,
    clientIds,
    user,
    claims,
    mint,
    activeKey,
    jwks: () => keys.jwks(),
    metadataFetches: () => ({ ...fetches }),
    rotateKey: async (rotation) => (await keys.rotate(rotation)).kid,
    down: (how) => outage.down(how),
    up: () => outage.up(),
    close: () => closeServer(server),
  };
}

/** JSON the way Cognito's serialiser writes it: no spaces, `/` escaped as `\/`. */
export function cognitoJSON(value: unknown): string {
  return JSON.stringify(value).replaceAll('/', '\\/');
}

/** The token with its payload replaced and its signature kept: a tampered token. */
export function withPayload(token: string, claims: Claims): string {
  const [header = '', , signature = ''] = token.split('.');
  return `${header}.${segment(cognitoJSON(claims))}.${signature}`;
}

/** The header and claims of a compact JWS, unverified. */
export function decodeToken(token: string): { header: Claims; payload: Claims } {
  const [header = '', payload = ''] = token.split('.');
  return { header: JSON.parse(Buffer.from(header, 'base64url').toString('utf8')), payload: JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) };
}

function segment(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}

function computeSignature(alg: string, key: KeyObject | string | Uint8Array, signingInput: string): Buffer {
  const data = Buffer.from(signingInput, 'ascii');
  if (alg === 'none') return Buffer.alloc(0);
  const bits = /^(?:RS|PS|HS)(256|384|512)$/.exec(alg)?.[1];
  if (bits === undefined) throw new TypeError(`mint cannot sign with alg ${alg}; pass options.signature`);
  if (alg.startsWith('HS')) {
    return createHmac(`sha${bits}`, typeof key === 'string' || key instanceof Uint8Array ? key : key.export()).update(data).digest();
  }
  if (typeof key === 'string' || key instanceof Uint8Array) throw new TypeError(`${alg} needs a private KeyObject`);
  return alg.startsWith('PS')
    ? signWith(`sha${bits}`, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(bits) / 8 })
    : signWith(`sha${bits}`, data, key);
}
