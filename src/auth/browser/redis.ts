// Connections to the Redis servers that hold server-side sessions, or the ids of cookie sessions
// logged out (revocations.ts): one client per address and password, shared by the policies that
// name them, closed when no policy does.
//
// node-redis (`redis`, maintained by Redis itself) rather than ioredis: it is the client Redis
// develops and recommends, ships its own types, and its offline queue can be turned off, so a
// request fails fast (503) when Redis is down instead of waiting on a reconnect.
import { createClient } from 'redis';
import type { Logger } from '../../observability/logger.ts';

export interface RedisConnection {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  del(key: string): Promise<void>;
}

export interface RedisSettings {
  readonly address: string;
  readonly password: string | null;
}

/** How long one command may take before the request gets a 503. */
const COMMAND_TIMEOUT_MS = 2_000;

export class SessionStoreUnavailable extends Error {
  override readonly name = 'SessionStoreUnavailable';
}

export interface RedisPool {
  connection(settings: RedisSettings): RedisConnection;
  retain(settings: readonly RedisSettings[]): void;
  close(): Promise<void>;
}

export function createRedisPool(logger: Logger): RedisPool {
  const clients = new Map<string, { destroy: () => void; connection: RedisConnection }>();
  const keyOf = (settings: RedisSettings) => `${settings.address}\n${settings.password ?? ''}`;

  function open(settings: RedisSettings): { destroy: () => void; connection: RedisConnection } {
    const url = /^rediss?:\/\//.test(settings.address) ? settings.address : `redis://${settings.address}`;
    const client = createClient({
      url,
      password: settings.password ?? undefined,
      disableOfflineQueue: true,
      socket: { connectTimeout: COMMAND_TIMEOUT_MS, reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 5_000) },
    });
    let healthy = true;
    client.on('error', (error: Error) => {
      // Once per outage: reconnect attempts keep failing until Redis is back.
      if (healthy) logger.warn({ redis: redactAddress(settings.address), err: { message: error.message } }, 'session store unreachable');
      healthy = false;
    });
    client.on('ready', () => {
      if (!healthy) logger.info({ redis: redactAddress(settings.address) }, 'session store reachable again');
      healthy = true;
    });
    const connecting = client.connect().catch(() => undefined);

    async function run<T>(command: () => Promise<T>): Promise<T> {
      await Promise.race([connecting, delay(COMMAND_TIMEOUT_MS)]);
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        return await Promise.race([
          command(),
          new Promise<never>((_resolve, reject) => {
            timer = setTimeout(() => reject(new SessionStoreUnavailable('The session store did not answer in time.')), COMMAND_TIMEOUT_MS);
          }),
        ]);
      } catch (error) {
        if (error instanceof SessionStoreUnavailable) throw error;
        throw new SessionStoreUnavailable('The session store is unreachable.', { cause: error });
      } finally {
        clearTimeout(timer);
      }
    }

    const connection: RedisConnection = {
      get: (key) => run(() => client.get(key)),
      set: (key, value, ttlMs) => run(async () => void (await client.set(key, value, { expiration: { type: 'PX', value: Math.max(1, Math.ceil(ttlMs)) } }))),
      del: (key) => run(async () => void (await client.del(key))),
    };
    return { destroy: () => client.destroy(), connection };
  }

  return {
    connection(settings) {
      const key = keyOf(settings);
      let entry = clients.get(key);
      if (entry === undefined) {
        entry = open(settings);
        clients.set(key, entry);
      }
      return entry.connection;
    },
    retain(settings) {
      const wanted = new Set(settings.map(keyOf));
      for (const [key, entry] of clients) {
        if (wanted.has(key)) continue;
        clients.delete(key);
        entry.destroy();
      }
    },
    async close() {
      for (const entry of clients.values()) entry.destroy();
      clients.clear();
    },
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** The address without any user:password part. */
function redactAddress(address: string): string {
  return address.replace(/\/\/[^@/]*@/, '//');
}
