// Amazon Cognito's shapes, written once: the discovery document, the signing keys and JWKS,
// and the claim sets of its three kinds of token, each in the order Cognito writes them
// (docs/cognito.md; the machine token's order is the real one in
// test/fixtures/cognito-m2m-access-token.json). Pure functions, no state: the local
// OpenID provider (provider.ts) and the token minter (cognito-mint.ts) both build on them.

import { createHash, generateKeyPair, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';

const generateRsaKeyPair = promisify(generateKeyPair);

/** `http://127.0.0.1:PORT/us-east-1_Demo12345` for region `us-east-1` and pool `Demo12345`. */
export function cognitoIssuer(origin: string, region: string, pool: string): string {
  return `${origin}/${region}_${pool}`;
}

export interface CognitoDiscovery {
  readonly issuer: string;
  readonly jwks_uri: string;
  readonly authorization_endpoint: string;
  readonly token_endpoint: string;
  readonly userinfo_endpoint: string;
  readonly revocation_endpoint: string;
  readonly end_session_endpoint: string;
  readonly id_token_signing_alg_values_supported: readonly string[];
  readonly response_types_supported: readonly string[];
  readonly scopes_supported: readonly string[];
  readonly subject_types_supported: readonly string[];
  readonly token_endpoint_auth_methods_supported: readonly string[];
}

/**
 * Cognito's discovery document, field for field. Like Cognito, the issuer and JWKS live on one
 * origin and every other endpoint on the user pool `domain` (here: the same host, outside the
 * issuer's path), so a client that derives endpoints from the issuer fails. Like Cognito, no
 * `code_challenge_methods_supported`, although PKCE S256 works.
 */
export function cognitoDiscovery(issuer: string, domain: string): CognitoDiscovery {
  return {
    issuer,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    authorization_endpoint: `${domain}/oauth2/authorize`,
    token_endpoint: `${domain}/oauth2/token`,
    userinfo_endpoint: `${domain}/oauth2/userInfo`,
    revocation_endpoint: `${domain}/oauth2/revoke`,
    end_session_endpoint: `${domain}/logout`,
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'token'],
    scopes_supported: ['openid', 'email', 'phone', 'profile'],
    subject_types_supported: ['public'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
  };
}

/** A public key as Cognito's JWKS lists it: these members, in this order. */
export interface CognitoJwk {
  readonly alg: 'RS256';
  readonly e: string;
  readonly kid: string;
  readonly kty: 'RSA';
  readonly n: string;
  readonly use: 'sig';
}

export interface SigningKey {
  /** Like Cognito's: standard base64 (with `+`, `/` and `=`) of 32 bytes. */
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly publicJwk: CognitoJwk;
  /** The public key as PEM text: what an "HMAC with the public key" forgery signs with. */
  readonly publicKeyPEM: string;
}

export async function generateSigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateRsaKeyPair('rsa', { modulusLength: 2048 });
  const { n, e } = publicKey.export({ format: 'jwk' });
  if (n === undefined || e === undefined) throw new TypeError('RSA public key without n or e');
  // The RFC 7638 thumbprint, base64-encoded the way Cognito's kids look.
  const kid = createHash('sha256').update(JSON.stringify({ e, kty: 'RSA', n })).digest('base64');
  return {
    kid,
    privateKey,
    publicKey,
    publicJwk: { alg: 'RS256', e, kid, kty: 'RSA', n, use: 'sig' },
    publicKeyPEM: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}

/** The private JWK, public members first so that a provider publishing it keeps Cognito's order. */
export function privateJwk(key: SigningKey): Record<string, string> {
  const { d, p, q, dp, dq, qi } = key.privateKey.export({ format: 'jwk' });
  if (d === undefined || p === undefined || q === undefined || dp === undefined || dq === undefined || qi === undefined) {
    throw new TypeError('RSA private key without CRT members');
  }
  return { ...key.publicJwk, d, p, q, dp, dq, qi };
}

export type Claims = Record<string, unknown>;

export interface MachineAccessTokenInput {
  readonly issuer: string;
  readonly clientId: string;
  /** Space separated custom scopes: `default-m2m-resource-server/read …`. */
  readonly scope: string;
  readonly iat: number;
  readonly exp: number;
  readonly jti?: string;
}

/** A client credentials access token: `sub` is the client ID; no username, no email, no `aud`. */
export function machineAccessTokenClaims(input: MachineAccessTokenInput): Claims {
  return {
    sub: input.clientId,
    token_use: 'access',
    scope: input.scope,
    auth_time: input.iat,
    iss: input.issuer,
    exp: input.exp,
    iat: input.iat,
    version: 2,
    jti: input.jti ?? randomUUID(),
    client_id: input.clientId,
  };
}

export interface CognitoUserClaims {
  readonly sub: string;
  readonly username: string;
  readonly groups: readonly string[];
}

export interface UserAccessTokenInput {
  readonly issuer: string;
  readonly clientId: string;
  readonly user: CognitoUserClaims;
  /** Space separated: `openid email phone`. */
  readonly scope: string;
  readonly authTime: number;
  readonly iat: number;
  readonly exp: number;
  readonly jti?: string;
  /** Shared by every token of one sign-in, refreshes included. */
  readonly originJti?: string;
  readonly eventId?: string;
}

/** A user's access token: `username`, `cognito:groups` only when the user has groups, no `aud`. */
export function userAccessTokenClaims(input: UserAccessTokenInput): Claims {
  return {
    sub: input.user.sub,
    ...(input.user.groups.length > 0 ? { 'cognito:groups': [...input.user.groups] } : {}),
    iss: input.issuer,
    version: 2,
    client_id: input.clientId,
    origin_jti: input.originJti ?? randomUUID(),
    event_id: input.eventId ?? randomUUID(),
    token_use: 'access',
    scope: input.scope,
    auth_time: input.authTime,
    exp: input.exp,
    iat: input.iat,
    jti: input.jti ?? randomUUID(),
    username: input.user.username,
  };
}

export interface IdTokenInput {
  readonly issuer: string;
  /** The app client ID: the ID token's `aud`. */
  readonly clientId: string;
  readonly user: CognitoUserClaims & {
    readonly email: string;
    /** Cognito sometimes writes the string "true". */
    readonly emailVerified: boolean | 'true' | 'false';
    /** Names without the `custom:` prefix; values are always strings. */
    readonly customAttributes?: Readonly<Record<string, string>>;
  };
  readonly authTime: number;
  readonly iat: number;
  readonly exp: number;
  readonly nonce?: string;
  readonly jti?: string;
  readonly originJti?: string;
  readonly eventId?: string;
}

export function idTokenClaims(input: IdTokenInput): Claims {
  const { user } = input;
  return {
    sub: user.sub,
    ...(user.groups.length > 0 ? { 'cognito:groups': [...user.groups] } : {}),
    email_verified: user.emailVerified,
    iss: input.issuer,
    'cognito:username': user.username,
    ...(input.nonce === undefined ? {} : { nonce: input.nonce }),
    origin_jti: input.originJti ?? randomUUID(),
    aud: input.clientId,
    event_id: input.eventId ?? randomUUID(),
    token_use: 'id',
    auth_time: input.authTime,
    exp: input.exp,
    iat: input.iat,
    jti: input.jti ?? randomUUID(),
    email: user.email,
    ...customClaims(user.customAttributes),
  };
}

export function customClaims(attributes: Readonly<Record<string, string>> = {}): Record<string, string> {
  return Object.fromEntries(Object.entries(attributes).map(([name, value]) => [`custom:${name}`, value]));
}

/** A UUID that is a pure function of `seed`: the same sign-in always gets the same `origin_jti`. */
export function uuidFrom(seed: string): string {
  const hex = createHash('sha256').update(seed).digest('hex');
  const variant = ((Number.parseInt(hex.slice(16, 17), 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** A Cognito-looking app client ID: 26 lower-case letters and digits. */
export function cognitoClientId(): string {
  return randomToken(26);
}

/** A Cognito-looking app client secret: 51 lower-case letters and digits. */
export function cognitoClientSecret(): string {
  return randomToken(51);
}

function randomToken(length: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(length), (byte) => alphabet[byte % alphabet.length]).join('');
}
