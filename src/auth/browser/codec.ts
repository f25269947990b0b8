// What a session and a login attempt hold, and their compact encoding before sealing.
//
// A session is as small as it can be: times in seconds, JWTs stored as their decoded header and
// payload text plus the signature (the ID and access tokens repeat most of their claims, which
// DEFLATE then finds), the whole compressed. Compressing before encrypting leaks only the size of
// what the provider put in the user's own tokens, to that user; nothing an attacker chooses is
// mixed with the secrets, so there is no compression oracle to probe.
import { randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';

export interface Session {
  /** Random, given at sign-in and kept through refreshes: what logout revokes (revocations.ts). */
  readonly id: string;
  /** Seconds since the epoch: sign-in (absolute timeout). */
  readonly createdAt: number;
  /** Seconds: the last request that moved the idle timeout. */
  readonly touchedAt: number;
  readonly idToken: string;
  readonly accessToken: string | null;
  /** Seconds: when the access token expires. */
  readonly accessExpiresAt: number;
  readonly refreshToken: string | null;
  /** The scope granted (from the token response or the access token), for requiredScopes. */
  readonly scope: string | null;
}

export interface LoginAttempt {
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
  /** A same-origin path (and query) validated by returnTarget(). */
  readonly returnTo: string;
  readonly redirectURI: string;
  /** Seconds. */
  readonly createdAt: number;
}

/** 2: with the session's id. A cookie of another version is no session (sign in again). */
const SESSION_VERSION = 2;
const SESSION_ID = /^[A-Za-z0-9_-]{22,64}$/;

/** A new session's id: 128 random bits. */
export function newSessionId(): string {
  return randomBytes(16).toString('base64url');
}
const MAX_INFLATED = 256 * 1024;

type Token = string | readonly [string, string, string];

/** A JWT as [header JSON, payload JSON, signature] when that round-trips exactly; else as it is. */
function packToken(token: string): Token {
  const parts = token.split('.');
  if (parts.length !== 3) return token;
  const [header, payload] = [Buffer.from(parts[0]!, 'base64url').toString('utf8'), Buffer.from(parts[1]!, 'base64url').toString('utf8')];
  if (Buffer.from(header, 'utf8').toString('base64url') !== parts[0] || Buffer.from(payload, 'utf8').toString('base64url') !== parts[1]) return token;
  return [header, payload, parts[2]!];
}

function unpackToken(token: unknown): string | null {
  if (typeof token === 'string') return token;
  if (!Array.isArray(token) || token.length !== 3 || !token.every((part) => typeof part === 'string')) return null;
  return `${Buffer.from(token[0] as string, 'utf8').toString('base64url')}.${Buffer.from(token[1] as string, 'utf8').toString('base64url')}.${token[2] as string}`;
}

export function encodeSession(session: Session): Uint8Array {
  const fields = [
    SESSION_VERSION,
    session.id,
    session.createdAt,
    session.touchedAt,
    packToken(session.idToken),
    session.accessToken === null ? null : packToken(session.accessToken),
    session.accessExpiresAt,
    session.refreshToken,
    session.scope,
  ];
  return deflateRawSync(JSON.stringify(fields), { level: 9 });
}

export function decodeSession(bytes: Uint8Array): Session | null {
  let fields: unknown;
  try {
    fields = JSON.parse(inflateRawSync(bytes, { maxOutputLength: MAX_INFLATED }).toString('utf8'));
  } catch {
    return null;
  }
  if (!Array.isArray(fields) || fields[0] !== SESSION_VERSION || fields.length !== 9) return null;
  const [, id, createdAt, touchedAt, idTokenField, access, accessExpiresAt, refreshToken, scope] = fields as unknown[];
  const idToken = unpackToken(idTokenField);
  const accessToken = access === null ? null : unpackToken(access);
  if (typeof id !== 'string' || !SESSION_ID.test(id)) return null;
  if (typeof createdAt !== 'number' || typeof touchedAt !== 'number' || typeof accessExpiresAt !== 'number' || idToken === null) return null;
  if ((access !== null && accessToken === null) || (refreshToken !== null && typeof refreshToken !== 'string') || (scope !== null && typeof scope !== 'string')) return null;
  return { id, createdAt, touchedAt, idToken, accessToken, accessExpiresAt, refreshToken: refreshToken as string | null, scope: scope as string | null };
}

export function encodeAttempt(attempt: LoginAttempt): Uint8Array {
  return Buffer.from(JSON.stringify([attempt.state, attempt.nonce, attempt.codeVerifier, attempt.returnTo, attempt.redirectURI, attempt.createdAt]));
}

export function decodeAttempt(bytes: Uint8Array): LoginAttempt | null {
  let fields: unknown;
  try {
    fields = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return null;
  }
  if (!Array.isArray(fields) || fields.length !== 6) return null;
  const [state, nonce, codeVerifier, returnTo, redirectURI, createdAt] = fields as unknown[];
  if (typeof state !== 'string' || typeof nonce !== 'string' || typeof codeVerifier !== 'string' || typeof returnTo !== 'string' || typeof redirectURI !== 'string' || typeof createdAt !== 'number') {
    return null;
  }
  return { state, nonce, codeVerifier, returnTo, redirectURI, createdAt };
}

/** A JWT's payload, read without verification: for tokens that were verified (or came from the token endpoint) before they were sealed. */
export function jwtPayload(token: string | null): Record<string, unknown> | null {
  if (token === null) return null;
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const value: unknown = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
