// One OpenID provider as the proxy sees it: its discovery document and its signing keys, kept
// fresh in the background. Keys already fetched keep verifying while the provider is down, for
// as long as it is down (stale-if-error); its health says so (keys held, last fetch, last error,
// degraded). An unknown `kid` may be a key the provider rotated in: it triggers a refetch, at
// most one per distinct kid every 10 s and at most one a second for the provider as a whole, so
// a new key is picked up within about a second even while someone floods made-up kids.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { createBackoff } from '../time/backoff.ts';
import { delay, SYSTEM_TIMERS, unrefTimer, type TimerHandle, type Timers } from '../time/timers.ts';
import { ProviderError, type ProviderErrorCode } from './errors.ts';
import type { FetchJSON } from './fetcher.ts';

/** Signature algorithms Portcullis accepts at all: asymmetric only, never `none`, never HMAC. */
export const ASYMMETRIC_ALGORITHMS = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']);

export interface ProviderMetadata {
  readonly issuer: string;
  readonly jwks_uri: string;
  readonly authorization_endpoint?: string;
  readonly token_endpoint?: string;
  readonly userinfo_endpoint?: string;
  readonly revocation_endpoint?: string;
  readonly end_session_endpoint?: string;
  readonly id_token_signing_alg_values_supported?: readonly string[];
  readonly token_endpoint_auth_methods_supported?: readonly string[];
  readonly [key: string]: unknown;
}

export interface SigningKey {
  readonly kid: string | undefined;
  readonly key: KeyObject;
  /** The JWK's `alg`, when it names one. */
  readonly alg: string | undefined;
  /** The JWK's `use`, when it says. */
  readonly use: string | undefined;
}

export type ProviderReadiness =
  | { readonly ready: true; readonly reason: 'Ready'; readonly message: string }
  | {
      readonly ready: false;
      readonly reason: 'Pending' | 'DiscoveryFailed' | 'JWKSFailed';
      /** For operators (status, log, validate): the URL and the cause, in a person's words. */
      readonly message: string;
      /** Why, as a stable code; null while the first fetch runs. */
      readonly error: ProviderErrorCode | null;
      /** For clients (the 503 body): what is true, without internal host names or causes. */
      readonly publicMessage: string;
    };

export interface ProviderOptions {
  readonly issuer: string;
  readonly discoveryURL: string;
  readonly fetchJSON: FetchJSON;
  /** The clock and the refetch timers; injectable for tests. */
  readonly timers?: Timers;
  /** How often discovery and keys are refetched while all is well. Default 10 min. */
  readonly refreshMs?: number;
  /** After a refetch that did not find a kid, how long that same kid is refused without a fetch. Default 10 s. */
  readonly kidCooldownMs?: number;
  /** Refetches for unknown kids start at least this long after the fetch before them. Default 1 s. */
  readonly kidRefetchIntervalMs?: number;
  /** Back-off after a failed fetch: doubles from `retryMs` up to `maxRetryMs`. Defaults 1 s and 60 s. */
  readonly retryMs?: number;
  readonly maxRetryMs?: number;
  /** Called when readiness or the key set changes. */
  readonly onChange?: () => void;
  /** Called when what health() answers changes. */
  readonly onHealthChange?: () => void;
  /** Called after every fetch of the discovery document or the key set (metrics). */
  readonly onFetch?: (document: 'discovery' | 'jwks', ok: boolean) => void;
}

/**
 * What an operator sees of a provider (`status.provider`, the `Degraded` condition, the log).
 * Its times move on their own at most once per refresh period, since each move is a status
 * write; a change of anything else shows at once.
 */
export interface ProviderHealth {
  /** Signing keys held now. */
  readonly keys: number;
  /** The last successful fetch of discovery and keys, in milliseconds since the epoch; null before the first. */
  readonly lastFetchTime: number | null;
  /** The last failed fetch (kept after the provider recovers): why, without secrets, and when. */
  readonly lastError: { readonly code: ProviderErrorCode; readonly message: string; readonly time: number } | null;
  /** Keys are held but the latest fetch failed: tokens are verified with the keys fetched before. */
  readonly degraded: boolean;
}

export interface Provider {
  readiness(): ProviderReadiness;
  health(): ProviderHealth;
  metadata(): ProviderMetadata | null;
  /** Algorithms the provider signs with that Portcullis accepts. */
  allowedAlgorithms(): ReadonlySet<string>;
  /** The key for `kid`; an unknown kid waits for a refetch of the key set (within the limits above). */
  key(kid: string | undefined): Promise<SigningKey | null>;
  /** Fetches discovery and keys now; resolves when done (success or not). */
  refresh(): Promise<void>;
  /** How many times the key set was fetched. */
  jwksFetches(): number;
  close(): void;
}

export function createProvider(options: ProviderOptions): Provider {
  const timers = options.timers ?? SYSTEM_TIMERS;
  const refreshMs = options.refreshMs ?? 10 * 60_000;
  const kidCooldownMs = options.kidCooldownMs ?? 10_000;
  const kidRefetchIntervalMs = options.kidRefetchIntervalMs ?? 1_000;
  const backoff = createBackoff({ baseMs: options.retryMs ?? 1_000, maxMs: options.maxRetryMs ?? 60_000 });
  const now = () => timers.now();

  let metadata: ProviderMetadata | null = null;
  let keys: readonly SigningKey[] = [];
  let readiness: ProviderReadiness = {
    ready: false,
    reason: 'Pending',
    message: 'Fetching the discovery document and keys.',
    error: null,
    publicMessage: 'The identity provider of this route has not answered yet.',
  };
  let algorithms: ReadonlySet<string> = new Set(['RS256']);
  let inFlight: Promise<void> | null = null;
  let lastFetchStartedAt = -Infinity;
  /** The next refetch for unknown kids, joined by every one that arrives before it starts. */
  let kidRefetch: Promise<void> | null = null;
  /** Kids that a refetch did not find, and when; oldest first. */
  const missingKids = new Map<string, number>();
  let lastSuccess: number | null = null;
  let lastFailure: ProviderHealth['lastError'] = null;
  let latestFailed = false;
  let health: ProviderHealth = { keys: 0, lastFetchTime: null, lastError: null, degraded: false };
  let fetches = 0;
  let timer: TimerHandle | null = null;
  let closed = false;

  function setReadiness(next: ProviderReadiness): void {
    const changed = next.ready !== readiness.ready || next.reason !== readiness.reason || next.message !== readiness.message;
    readiness = next;
    if (changed) options.onChange?.();
  }

  /** Brings health() up to date; each change of its times waits a refresh period, unless something else changes with it. */
  function updateHealth(): void {
    const degraded = keys.length > 0 && latestFailed;
    const news = degraded !== health.degraded || keys.length !== health.keys;
    const due = (shown: number | null, actual: number | null) => shown === null || news || (actual !== null && actual - shown >= refreshMs);
    const lastError =
      lastFailure !== null && (health.lastError === null || lastFailure.message !== health.lastError.message || due(health.lastError.time, lastFailure.time)) ? lastFailure : health.lastError;
    const next: ProviderHealth = { keys: keys.length, lastFetchTime: due(health.lastFetchTime, lastSuccess) ? lastSuccess : health.lastFetchTime, lastError, degraded };
    if (next.keys === health.keys && next.lastFetchTime === health.lastFetchTime && next.lastError === health.lastError && next.degraded === health.degraded) return;
    health = next;
    options.onHealthChange?.();
  }

  function failed(reason: 'DiscoveryFailed' | 'JWKSFailed', what: string, error: unknown): void {
    const failure = describeFailure(what, error);
    lastFailure = { ...failure, time: now() };
    latestFailed = true;
    updateHealth();
    // Stale-if-error: a provider we already know keeps working on what we have.
    if (keys.length === 0) setReadiness({ ready: false, reason, message: failure.message, error: failure.code, publicMessage: publicMessage(reason, failure.code, options.issuer) });
  }

  async function fetchAll(): Promise<void> {
    lastFetchStartedAt = now();
    let document: ProviderMetadata;
    try {
      document = parseMetadata(await options.fetchJSON(options.discoveryURL), options.issuer);
      options.onFetch?.('discovery', true);
    } catch (error) {
      options.onFetch?.('discovery', false);
      failed('DiscoveryFailed', `Discovery at ${displayURL(options.discoveryURL)} failed`, error);
      throw error;
    }
    let fetched: SigningKey[];
    try {
      fetches++;
      fetched = parseKeySet(await options.fetchJSON(document.jwks_uri));
      options.onFetch?.('jwks', true);
    } catch (error) {
      options.onFetch?.('jwks', false);
      failed('JWKSFailed', `Fetching the keys at ${displayURL(document.jwks_uri)} failed`, error);
      throw error;
    }
    metadata = document;
    const advertised = document.id_token_signing_alg_values_supported ?? ['RS256'];
    algorithms = new Set(advertised.filter((alg) => ASYMMETRIC_ALGORITHMS.has(alg)));
    const changed = !sameKeys(keys, fetched);
    keys = fetched;
    lastSuccess = now();
    latestFailed = false;
    updateHealth();
    setReadiness({ ready: true, reason: 'Ready', message: `Discovery and ${keys.length} signing key(s) fetched from the provider.` });
    if (changed) options.onChange?.();
  }

  /** One fetch at a time; concurrent callers share it. */
  function refresh(): Promise<void> {
    inFlight ??= fetchAll()
      .then(
        () => {
          backoff.reset();
          schedule(refreshMs);
        },
        () => schedule(backoff.next()),
      )
      .finally(() => {
        inFlight = null;
      });
    return inFlight;
  }

  function schedule(delay: number): void {
    if (closed) return;
    if (timer !== null) timers.clearTimeout(timer);
    timer = timers.setTimeout(() => void refresh(), delay);
    unrefTimer(timer); // the refetch alone never keeps the process running
  }

  /**
   * A fetch that starts after every caller waiting for it arrived, and at least
   * `kidRefetchIntervalMs` after the fetch before it: however many unknown kids arrive, they
   * share one fetch a second. A fetch already under way is not joined: it may have started
   * before the provider published the key.
   */
  function refetchForUnknownKid(): Promise<void> {
    kidRefetch ??= (async () => {
      for (;;) {
        if (closed) return;
        if (inFlight !== null) {
          await inFlight;
          continue;
        }
        const wait = lastFetchStartedAt + kidRefetchIntervalMs - now();
        if (wait <= 0) break;
        await delay(timers, wait);
      }
      kidRefetch = null; // who arrives from now on waits for the next fetch
      await refresh();
    })();
    return kidRefetch;
  }

  /** Remembers a kid the provider does not publish; the oldest are forgotten first, so the list stays small. */
  function noteMissing(kid: string): void {
    missingKids.delete(kid);
    missingKids.set(kid, now());
    for (const [old, at] of missingKids) {
      if (missingKids.size <= MAX_MISSING_KIDS && now() - at < kidCooldownMs) break;
      missingKids.delete(old);
    }
  }

  void refresh();

  return {
    readiness: () => readiness,
    health: () => health,
    metadata: () => metadata,
    allowedAlgorithms: () => algorithms,
    async key(kid) {
      const find = () => (kid === undefined ? (keys.length === 1 ? keys[0]! : null) : (keys.find((k) => k.kid === kid) ?? null));
      const known = find();
      if (known !== null || kid === undefined) return known;
      // A kid that a refetch lately did not find is refused at once: repeating it costs nothing.
      const missingSince = missingKids.get(kid);
      if (missingSince !== undefined && now() - missingSince < kidCooldownMs) return null;
      await refetchForUnknownKid();
      const found = find();
      if (found === null) noteMissing(kid);
      return found;
    },
    refresh,
    jwksFetches: () => fetches,
    close() {
      closed = true;
      if (timer !== null) timers.clearTimeout(timer);
    },
  };
}

/** Unknown kids remembered at most: a flood of distinct ones pushes the oldest out, and is still held to one fetch a second. */
const MAX_MISSING_KIDS = 1_000;

function parseMetadata(value: unknown, issuer: string): ProviderMetadata {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ProviderError('DOCUMENT_INVALID', 'the discovery document is not a JSON object');
  const document = value as Partial<ProviderMetadata>;
  if (document.issuer !== issuer) {
    // Tokens are checked against spec.issuer exactly, so a near miss is still a miss: say how near.
    const named = typeof document.issuer === 'string' ? `the issuer ${JSON.stringify(document.issuer)}` : 'no issuer';
    const hint = typeof document.issuer === 'string' && document.issuer.replace(/\/+$/, '') === issuer.replace(/\/+$/, '') ? '; they differ only by a trailing slash' : '';
    throw new ProviderError('ISSUER_MISMATCH', `the discovery document names ${named}, but spec.issuer is ${JSON.stringify(issuer)}${hint}`);
  }
  if (typeof document.jwks_uri !== 'string' || !/^https?:\/\//.test(document.jwks_uri)) throw new ProviderError('DOCUMENT_INVALID', 'the discovery document has no http(s) jwks_uri');
  return document as ProviderMetadata;
}

/** Why a fetch failed, for operators: the URL (without credentials) and the cause, as one sentence. */
function describeFailure(what: string, error: unknown): { readonly code: ProviderErrorCode; readonly message: string } {
  const code = error instanceof ProviderError ? error.code : 'NETWORK';
  const cause = error instanceof Error ? error.message : String(error);
  return { code, message: `${what}: ${cause.replace(/\.$/, '')}.` };
}

/**
 * What the `Degraded` condition says of a provider that holds keys (null before it has any, when
 * `Ready` says it all): True while refreshing fails, so that cached keys alone verify tokens.
 */
export function degradation(health: ProviderHealth): { readonly degraded: boolean; readonly reason: 'RefreshFailing' | 'RefreshSucceeded'; readonly message: string } | null {
  if (health.keys === 0) return null;
  if (health.degraded && health.lastError !== null) {
    return { degraded: true, reason: 'RefreshFailing', message: `Refreshing the provider's discovery document and keys fails: ${health.lastError.message} The ${health.keys} signing key(s) fetched before keep verifying tokens.` };
  }
  return { degraded: false, reason: 'RefreshSucceeded', message: `The last refresh of the provider's discovery document and keys succeeded: ${health.keys} signing key(s).` };
}

/**
 * What a client may learn about a provider that is not ready: what is true, in one sentence.
 * The issuer is public (every token names it); other host names and causes stay in the log.
 */
function publicMessage(reason: 'DiscoveryFailed' | 'JWKSFailed', code: ProviderErrorCode, issuer: string): string {
  if (code === 'ISSUER_MISMATCH') return `The identity provider's discovery document names another issuer than ${issuer}.`;
  if (reason === 'JWKSFailed') return "The signing keys of this route's identity provider could not be read.";
  switch (code) {
    case 'REDIRECTED':
    case 'HTTP_STATUS':
    case 'TOO_LARGE':
    case 'NOT_JSON':
    case 'DOCUMENT_INVALID':
      return 'The identity provider of this route does not serve a usable discovery document.';
    default:
      return 'The identity provider of this route is not reachable yet.';
  }
}

/** What a client is told when `provider` cannot serve (yet): its public message, or that it has not answered. */
export function unavailableMessage(provider: Provider | null): string {
  const readiness = provider?.readiness();
  return readiness !== undefined && !readiness.ready ? readiness.publicMessage : 'The identity provider of this route has not answered yet.';
}

/** A URL as messages show it: without any user name or password it may carry. */
export function displayURL(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.username === '' && url.password === '') return raw;
    url.username = '';
    url.password = '';
    return url.href;
  } catch {
    return raw;
  }
}

/** Public signing keys only: symmetric and private keys in a JWKS are ignored, never used. */
function parseKeySet(value: unknown): SigningKey[] {
  const list = (value as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list)) throw new ProviderError('DOCUMENT_INVALID', 'the key set has no "keys" list');
  const keys: SigningKey[] = [];
  for (const jwk of list as Record<string, unknown>[]) {
    if (typeof jwk !== 'object' || jwk === null || jwk.kty === 'oct' || 'd' in jwk) continue;
    try {
      const key = createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
      keys.push({ kid: typeof jwk.kid === 'string' ? jwk.kid : undefined, key, alg: typeof jwk.alg === 'string' ? jwk.alg : undefined, use: typeof jwk.use === 'string' ? jwk.use : undefined });
    } catch {
      // A key we cannot read is a key we cannot verify with.
    }
  }
  if (keys.length === 0) throw new ProviderError('NO_USABLE_KEY', `the key set lists ${list.length} key(s), none of them a public signing key Portcullis can use`);
  return keys;
}

function sameKeys(a: readonly SigningKey[], b: readonly SigningKey[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((key, i) => key.kid === b[i]!.kid && key.key.equals(b[i]!.key));
}
