// Where sessions live: sealed in the browser's cookies (chunked when large), or sealed in Redis
// with only a sealed random id in the cookie. Either way a cookie that is tampered with,
// truncated, or sealed for another policy unseals to nothing: no session. A cookie session that
// was logged out is no session either (revocations.ts).
import { randomBytes } from 'node:crypto';
import type { AuthPolicy } from '../../model/policy.ts';
import { decodeSession, encodeSession, type Session } from './codec.ts';
import { clearChunked, readChunked, sessionCookieAttributes, sessionCookieNames, writeChunked, type CookieJar } from './cookies.ts';
import type { RedisPool } from './redis.ts';
import type { Revocations } from './revocations.ts';
import { seal, unseal, type SealKeys } from './seal.ts';

export interface StoredSession {
  readonly session: Session;
  /** The Redis id, or null for a cookie session. */
  readonly id: string | null;
}

/** No session, and why: no cookie; a cookie that is not a session of this policy (or whose Redis copy is gone); one logged out. */
export interface NoSession {
  readonly session: null;
  readonly reason: 'SESSION_MISSING' | 'SESSION_INVALID' | 'SESSION_REVOKED';
}

export interface PolicyKeys {
  readonly session: SealKeys;
  readonly sessionId: SealKeys;
  readonly login: SealKeys;
}

export class SessionTooLarge extends Error {
  override readonly name = 'SessionTooLarge';
}

export interface SessionStore {
  /** The request's session; throws SessionStoreUnavailable when a Redis the policy names does not answer. */
  load(policy: AuthPolicy, keys: PolicyKeys, jar: CookieJar): Promise<StoredSession | NoSession>;
  /** Set-Cookie lines that keep `session` (none when a Redis session keeps its id). */
  save(policy: AuthPolicy, keys: PolicyKeys, jar: CookieJar, session: Session, id: string | null, scheme: 'http' | 'https', nowSeconds: number): Promise<string[]>;
  /** Set-Cookie lines that clear every piece of the session; the server-side copy is deleted. */
  destroy(policy: AuthPolicy, keys: PolicyKeys, jar: CookieJar, id: string | null, scheme: 'http' | 'https'): Promise<string[]>;
  /**
   * Logout: the session the cookies hold is never accepted again, from this browser or from a copy
   * of its cookies: its server-side copy is deleted, or a cookie session's id revoked until its
   * absolute timeout. Answers the session it ended, or null when the cookies hold none. Throws
   * SessionStoreUnavailable when the Redis store does not answer.
   */
  revoke(policy: AuthPolicy, keys: PolicyKeys, jar: CookieJar): Promise<Session | null>;
}

export function createSessionStore(redis: RedisPool, revocations: Revocations): SessionStore {
  const redisOf = (policy: AuthPolicy) => {
    const store = policy.browser!.session.store;
    return store.kind === 'Redis' ? { connection: redis.connection(store), prefix: store.keyPrefix } : null;
  };

  /** The session the cookies hold, without asking whether it was revoked. */
  async function read(policy: AuthPolicy, keys: PolicyKeys, jar: CookieJar): Promise<StoredSession | NoSession> {
    const settings = policy.browser!.session;
    const sealed = readChunked(jar, settings.cookieName);
    const none = (): NoSession => ({ session: null, reason: sessionCookieNames(jar, settings.cookieName).length > 0 ? 'SESSION_INVALID' : 'SESSION_MISSING' });
    if (sealed === null) return none();
    const server = redisOf(policy);
    if (server === null) {
      const plaintext = await unseal(sealed, keys.session);
      const session = plaintext === null ? null : decodeSession(plaintext);
      return session === null ? none() : { session, id: null };
    }
    const idBytes = await unseal(sealed, keys.sessionId);
    if (idBytes === null) return none();
    const id = Buffer.from(idBytes).toString('base64url');
    const stored = await server.connection.get(server.prefix + id);
    if (stored === null) return none();
    // Sealed at rest too: what Redis holds is no use without the session key.
    const plaintext = await unseal(stored, keys.session);
    const session = plaintext === null ? null : decodeSession(plaintext);
    return session === null ? none() : { session, id };
  }

  return {
    async load(policy, keys, jar) {
      const stored = await read(policy, keys, jar);
      // A cookie session cannot be deleted, only refused: ask whether it was logged out.
      if (stored.session !== null && stored.id === null && (await revocations.isRevoked(policy, stored.session.id))) return { session: null, reason: 'SESSION_REVOKED' };
      return stored;
    },

    async save(policy, keys, jar, session, id, scheme, nowSeconds) {
      const settings = policy.browser!.session;
      const remaining = Math.min(session.createdAt + settings.absoluteTimeoutMs / 1000 - nowSeconds, settings.absoluteTimeoutMs / 1000);
      const attributes = sessionCookieAttributes(settings, scheme, remaining);
      const server = redisOf(policy);
      if (server === null) {
        const lines = writeChunked(jar, settings.cookieName, await seal(encodeSession(session), keys.session), attributes);
        if (lines === null) throw new SessionTooLarge('The session is too large for cookies; use the Redis session store.');
        return lines;
      }
      const ttlMs = Math.min(remaining * 1000, settings.idleTimeoutMs);
      const sessionId = id ?? randomBytes(32).toString('base64url');
      await server.connection.set(server.prefix + sessionId, await seal(encodeSession(session), keys.session), ttlMs);
      if (id !== null) return [];
      return writeChunked(jar, settings.cookieName, await seal(Buffer.from(sessionId, 'base64url'), keys.sessionId), attributes) ?? [];
    },

    async destroy(policy, _keys, jar, id, scheme) {
      const settings = policy.browser!.session;
      const server = redisOf(policy);
      if (server !== null && id !== null) await server.connection.del(server.prefix + id);
      return clearChunked(jar, settings.cookieName, sessionCookieAttributes(settings, scheme, null));
    },

    async revoke(policy, keys, jar) {
      const stored = await read(policy, keys, jar);
      if (stored.session === null) return null;
      const server = redisOf(policy);
      if (server !== null && stored.id !== null) await server.connection.del(server.prefix + stored.id);
      else await revocations.revoke(policy, stored.session.id, stored.session.createdAt + policy.browser!.session.absoluteTimeoutMs / 1000);
      return stored.session;
    },
  };
}
