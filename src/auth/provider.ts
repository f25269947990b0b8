// One OpenID provider as the proxy sees it: its discovery document and its signing keys, kept
// fresh in the background. Keys already fetched keep verifying while the provider is down, for
// as long as it is down (stale-if-error). An unknown `kid` triggers one deduplicated refetch,
// then a cool-down during which unknown kids are refused without a fetch.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { createBackoff } from '../time/backoff.ts';
import { SYSTEM_TIMERS, unrefTimer, type TimerHandle, type Timers } from '../time/timers.ts';
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
  /** After an unknown-kid refetch, how long further unknown kids are refused without a fetch. Default 10 s. */
  readonly kidCooldownMs?: number;
  /** Back-off after a failed fetch: doubles from `retryMs` up to `maxRetryMs`. Defaults 1 s and 60 s. */
  readonly retryMs?: number;
  readonly maxRetryMs?: number;
  /** Called when readiness or the key set changes. */
  readonly onChange?: () => void;
  /** Called after every fetch of the discovery document or the key set (metrics). */
  readonly onFetch?: (document: 'discovery' | 'jwks', ok: boolean) => void;
}

export interface Provider {
  readiness(): ProviderReadiness;
  metadata(): ProviderMetadata | null;
  /** Algorithms the provider signs with that Portcullis accepts. */
  allowedAlgorithms(): ReadonlySet<string>;
  /** The key for `kid`, refetching the key set once if it is unknown (outside the cool-down). */
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
  const backoff = createBackoff({ baseMs: options.retryMs ?? 1_000, maxMs: options.maxRetryMs ?? 60_000 });

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
  let lastKidRefetch = -Infinity;
  let fetches = 0;
  let timer: TimerHandle | null = null;
  let closed = false;

  function setReadiness(next: ProviderReadiness): void {
    const changed = next.ready !== readiness.ready || next.reason !== readiness.reason || next.message !== readiness.message;
    readiness = next;
    if (changed) options.onChange?.();
  }

  async function fetchAll(): Promise<void> {
    let document: ProviderMetadata;
    try {
      document = parseMetadata(await options.fetchJSON(options.discoveryURL), options.issuer);
      options.onFetch?.('discovery', true);
    } catch (error) {
      options.onFetch?.('discovery', false);
      // Stale-if-error: a provider we already know keeps working on what we have.
      if (keys.length === 0) setReadiness(notReady('DiscoveryFailed', `Discovery at ${displayURL(options.discoveryURL)} failed`, error, options.issuer));
      throw error;
    }
    let fetched: SigningKey[];
    try {
      fetches++;
      fetched = parseKeySet(await options.fetchJSON(document.jwks_uri));
      options.onFetch?.('jwks', true);
    } catch (error) {
      options.onFetch?.('jwks', false);
      if (keys.length === 0) setReadiness(notReady('JWKSFailed', `Fetching the keys at ${displayURL(document.jwks_uri)} failed`, error, options.issuer));
      throw error;
    }
    metadata = document;
    const advertised = document.id_token_signing_alg_values_supported ?? ['RS256'];
    algorithms = new Set(advertised.filter((alg) => ASYMMETRIC_ALGORITHMS.has(alg)));
    const changed = !sameKeys(keys, fetched);
    keys = fetched;
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

  void refresh();

  return {
    readiness: () => readiness,
    metadata: () => metadata,
    allowedAlgorithms: () => algorithms,
    async key(kid) {
      const find = () => (kid === undefined ? (keys.length === 1 ? keys[0]! : null) : (keys.find((k) => k.kid === kid) ?? null));
      const known = find();
      if (known !== null || kid === undefined) return known;
      // An unknown kid: perhaps the provider rotated its keys. Refetch once, then cool down, so
      // a flood of made-up kids cannot hammer the provider.
      if (inFlight === null && timers.now() - lastKidRefetch < kidCooldownMs) return null;
      if (inFlight === null) lastKidRefetch = timers.now();
      await refresh();
      return find();
    },
    refresh,
    jwksFetches: () => fetches,
    close() {
      closed = true;
      if (timer !== null) timers.clearTimeout(timer);
    },
  };
}

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

function notReady(reason: 'DiscoveryFailed' | 'JWKSFailed', what: string, error: unknown, issuer: string): ProviderReadiness {
  const code = error instanceof ProviderError ? error.code : 'NETWORK';
  const cause = error instanceof Error ? error.message : String(error);
  return { ready: false, reason, message: `${what}: ${cause.replace(/\.$/, '')}.`, error: code, publicMessage: publicMessage(reason, code, issuer) };
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
