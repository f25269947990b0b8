// Logged-out cookie sessions. A sealed cookie cannot be taken back from the browser, nor from
// whoever copied it: logout revokes the session's id instead, and a session whose id is revoked is
// no session, until its absolute timeout would have ended it anyway.
//
// Each process keeps the ids it revoked in memory, bounded in number. A policy that names a Redis
// with the cookie store (spec.browser.session.redis) also writes them there, and every process
// reads them there, so a session logged out at one replica is refused by all. Without one, the
// other replicas accept a copy of the cookie until it expires (docs/reference.md says so).
import type { AuthPolicy, RedisServer } from '../../model/policy.ts';
import type { Logger } from '../../observability/logger.ts';
import type { RedisPool } from './redis.ts';

/** Revoked ids kept in memory at most (about 110 bytes each: 11 MB when full); beyond, the oldest are forgotten first. */
export const MAX_LOCAL_REVOCATIONS = 100_000;

export interface Revocations {
  /**
   * Session `id` of `policy` is refused until `expiresAt` (seconds). Never fails: when the
   * policy's Redis does not answer, the id is refused here only, and a warning says so.
   */
  revoke(policy: AuthPolicy, id: string, expiresAt: number): Promise<void>;
  /** Whether session `id` of `policy` was revoked; throws SessionStoreUnavailable when its Redis does not answer. */
  isRevoked(policy: AuthPolicy, id: string): Promise<boolean>;
}

export interface RevocationsOptions {
  readonly redis: RedisPool;
  readonly logger: Logger;
  /** Seconds since the epoch. */
  readonly seconds: () => number;
  /** Default MAX_LOCAL_REVOCATIONS. */
  readonly maxLocal?: number;
}

export function createRevocations(options: RevocationsOptions): Revocations {
  const { redis, logger, seconds } = options;
  const maxLocal = options.maxLocal ?? MAX_LOCAL_REVOCATIONS;
  /** `namespace/name` and id → when the id may be forgotten (seconds); oldest revocation first. */
  const local = new Map<string, number>();

  function remember(key: string, expiresAt: number): void {
    if (local.size >= maxLocal) {
      const now = seconds();
      for (const [old, until] of local) if (until <= now) local.delete(old);
      if (local.size >= maxLocal) {
        // Full of live revocations: forget the oldest tenth, whose sessions expire soonest when
        // every policy has the same absolute timeout. Forgotten ids become usable again here.
        const forget = Math.max(1, Math.ceil(maxLocal / 10));
        let forgotten = 0;
        for (const old of local.keys()) {
          if (forgotten++ >= forget) break;
          local.delete(old);
        }
        logger.warn({ forgotten: forget, kept: local.size }, 'too many logged-out sessions to remember: the oldest are forgotten early; name a Redis in spec.browser.session.redis to keep them all');
      }
    }
    local.delete(key);
    local.set(key, expiresAt);
  }

  return {
    async revoke(policy, id, expiresAt) {
      const ttlSeconds = expiresAt - seconds();
      if (ttlSeconds <= 0) return;
      remember(`${policy.key}\n${id}`, expiresAt);
      const server = revocationServer(policy);
      if (server === null) return;
      try {
        await redis.connection(server).set(server.keyPrefix + id, '1', ttlSeconds * 1000);
      } catch (error) {
        logger.warn({ policy: policy.key, err: { message: (error as Error).message } }, 'a logged-out session could not be shared through Redis: only this process refuses it');
      }
    },
    async isRevoked(policy, id) {
      const key = `${policy.key}\n${id}`;
      const until = local.get(key);
      if (until !== undefined) {
        if (until > seconds()) return true;
        local.delete(key);
      }
      const server = revocationServer(policy);
      if (server === null) return false;
      return (await redis.connection(server).get(server.keyPrefix + id)) !== null;
    },
  };
}

/** The Redis where `policy` shares its revocations, if it names one. */
export function revocationServer(policy: AuthPolicy): RedisServer | null {
  const store = policy.browser!.session.store;
  return store.kind === 'Cookie' ? store.revocations : null;
}
