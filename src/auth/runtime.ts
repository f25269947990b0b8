// The auth runtime: one Provider per issuer in use, one signature cache per policy, and the
// Guard the proxy pipeline calls for every request to a protected rule.
import { createHash } from 'node:crypto';
import { errorAnswer } from '../model/answer.ts';
import type { AllowDecision, AnswerDecision, Caller, DecisionLog, Guard, GuardContext, GuardDecision, GuardRequest } from '../model/guard.ts';
import type { AuthPolicy } from '../model/policy.ts';
import type { DecisionTrace } from '../model/trace.ts';
import type { RouteTable } from '../model/table.ts';
import type { Logger } from '../observability/logger.ts';
import { SYSTEM_TIMERS, type Timers } from '../time/timers.ts';
import type { BrowserFlow } from './browser/contract.ts';
import { authorizeClaims, authorizeRules } from './authorize.ts';
import { deniedReason } from './rules.ts';
import { traceVerification } from './trace.ts';
import { AuthError } from './errors.ts';
import { createFetcher, type FetchJSON } from './fetcher.ts';
import { ASSERTION_HEADER, assertionCallerKey, type AssertionSigner } from './assertion/signer.ts';
import { callerOf, identityHeaders } from './identity.ts';
import { createProvider, degradation, type Provider, type ProviderHealth, type ProviderReadiness } from './provider.ts';
import { createSignatureCache, verifyCachedToken, verifyNewToken, type Claims, type SignatureCache } from './verify.ts';

export interface AuthRuntimeOptions {
  readonly logger: Logger;
  /** The clock (token expiry, signature cache) and the providers' refetch timers; injectable for tests. */
  readonly timers?: Timers;
  /** Discovery and key refresh interval. */
  readonly refreshMs?: number;
  readonly kidCooldownMs?: number;
  /** Verified signatures kept per policy; 0 turns the cache off. */
  readonly cacheSize?: number;
  /** The authorization code flow and sessions; without it, browser policies take bearer tokens only. */
  readonly browser?: BrowserFlow;
  /** Signs X-Portcullis-Assertion for callers of policies with `forward.assertion` on; without it, none is sent. */
  readonly assertion?: AssertionSigner;
  /** Counts discovery and JWKS fetches. */
  readonly onProviderFetch?: (issuer: string, document: 'discovery' | 'jwks', ok: boolean) => void;
  /** Test seam: how provider documents are fetched. */
  readonly fetchJSON?: (caBundle: string | null) => { fetchJSON: FetchJSON; close(): Promise<void> };
  /**
   * Told when a policy's readiness changes (the same transitions that are logged), so the
   * controller can publish its `Ready` condition. Called synchronously, possibly inside sync().
   */
  readonly onReadinessChange?: (policy: AuthPolicy, readiness: ProviderReadiness) => void;
  /** Told when a policy's provider health changes (keys, last fetch, last error, degraded), for `status.provider` and `Degraded`. */
  readonly onHealthChange?: (policy: AuthPolicy, health: ProviderHealth) => void;
}

export interface AuthRuntime extends Guard {
  /** Brings providers and caches in line with a new table; call before the table serves. */
  sync(table: RouteTable): void;
  readiness(policy: AuthPolicy): ProviderReadiness;
  /** null while the policy is not loaded. */
  health(policy: AuthPolicy): ProviderHealth | null;
  close(): Promise<void>;
}

interface ProviderEntry {
  readonly provider: Provider;
  readonly close: () => Promise<void>;
  readonly policies: Set<PolicyEntry>;
}

interface PolicyEntry {
  readonly policy: AuthPolicy;
  readonly provider: ProviderEntry;
  readonly cache: SignatureCache;
  /** What each cached token's claims grant under this policy; entries go with the claims. */
  readonly grants: WeakMap<Claims, BearerGrant>;
  lastReadiness: string;
  /** Whether the last log line about it said Degraded True. */
  loggedDegraded: boolean;
}

/**
 * What a verified token's claims grant under a policy: the outcome of its scope, group and claim
 * checks, the caller and its identity headers depend on the claims and the policy alone, so they
 * are worked out once per token (the signature cache hands back the same claims object for the
 * same token) instead of on every request. Time (exp, nbf, iat), audience and the CEL rules are
 * still checked on every request.
 */
interface BearerGrant {
  /** Why the policy's scope, group or claim checks refuse these claims, or null (its CEL rules run per request). */
  readonly denied: AuthError | null;
  readonly caller: Caller;
  readonly callerKey: string;
  readonly identity: Readonly<Record<string, string>>;
  readonly logged: { sub?: string; clientId?: string };
  /** The last decision made from it, reused for the next request of the same host and route while its assertion is the same. */
  last: { readonly audience: string; readonly route: string | null; readonly assertion: string | null | undefined; readonly decision: AllowDecision } | null;
}

const REALM = 'portcullis';
const NOT_LOADED = { ready: false, reason: 'Pending', message: 'The policy is not loaded yet.', error: null, publicMessage: 'The identity provider of this route has not answered yet.' } as const;

export function createAuthRuntime(options: AuthRuntimeOptions): AuthRuntime {
  const timers = options.timers ?? SYSTEM_TIMERS;
  const now = () => timers.now();
  const providers = new Map<string, ProviderEntry>();
  /** By policy fingerprint: a changed policy gets a fresh entry, and so an empty cache. */
  const policies = new Map<string, PolicyEntry>();
  const makeFetcher = options.fetchJSON ?? ((caBundle: string | null) => createFetcher({ caBundle }));

  function providerFor(policy: AuthPolicy): ProviderEntry {
    const key = `${policy.issuer}\n${policy.discoveryURL}\n${policy.caBundle === null ? '' : createHash('sha256').update(policy.caBundle).digest('hex')}`;
    let entry = providers.get(key);
    if (entry === undefined) {
      const fetcher = makeFetcher(policy.caBundle);
      const policiesOfProvider = new Set<PolicyEntry>();
      const provider = createProvider({
        issuer: policy.issuer,
        discoveryURL: policy.discoveryURL,
        fetchJSON: fetcher.fetchJSON,
        timers,
        refreshMs: options.refreshMs,
        kidCooldownMs: options.kidCooldownMs,
        onFetch: (document, ok) => options.onProviderFetch?.(policy.issuer, document, ok),
        // New keys or readiness: verified signatures are forgotten, and the change is logged.
        onChange: () => {
          for (const policyEntry of policiesOfProvider) {
            policyEntry.cache.clear();
            reportReadiness(policyEntry);
          }
        },
        onHealthChange: () => {
          for (const policyEntry of policiesOfProvider) reportHealth(policyEntry);
        },
      });
      entry = { provider, close: fetcher.close, policies: policiesOfProvider };
      providers.set(key, entry);
    }
    return entry;
  }

  function reportReadiness(entry: PolicyEntry): void {
    const readiness = entry.provider.provider.readiness();
    const summary = `${readiness.ready}:${readiness.reason}`;
    if (summary === entry.lastReadiness || readiness.reason === 'Pending') return;
    entry.lastReadiness = summary;
    options.onReadinessChange?.(entry.policy, readiness);
    const fields = { policy: entry.policy.key, condition: 'Ready', status: readiness.ready ? 'True' : 'False', reason: readiness.reason, ...(readiness.ready ? healthFields(entry.provider.provider.health()) : { error: readiness.error }) };
    if (readiness.ready) options.logger.info(fields, readiness.message);
    else options.logger.warn(fields, readiness.message);
  }

  /** Published as it changes; logged when the provider turns Degraded (refreshing fails on cached keys) and when it recovers. */
  function reportHealth(entry: PolicyEntry): void {
    const health = entry.provider.provider.health();
    options.onHealthChange?.(entry.policy, health);
    const state = degradation(health);
    const degraded = state?.degraded ?? false;
    if (state === null || degraded === entry.loggedDegraded) return;
    entry.loggedDegraded = degraded;
    const fields = { policy: entry.policy.key, condition: 'Degraded', status: degraded ? 'True' : 'False', reason: state.reason, ...healthFields(health), ...(degraded ? { error: health.lastError?.code } : {}) };
    if (degraded) options.logger.warn(fields, state.message);
    else options.logger.info(fields, state.message);
  }

  function answer(policy: AuthPolicy, error: AuthError, extra: Partial<DecisionLog> = {}): AnswerDecision {
    const description = error.message.replaceAll('"', "'");
    const headers: Record<string, string> = {};
    if (error.status === 401) {
      headers['www-authenticate'] = error.code === 'TOKEN_MISSING' ? `Bearer realm="${REALM}"` : `Bearer realm="${REALM}", error="invalid_token", error_description="${description}"`;
    } else if (error.status === 403) {
      const scope = policy.authorization.requiredScopes.join(' ');
      headers['www-authenticate'] = `Bearer realm="${REALM}", error="insufficient_scope", error_description="${description}"${scope ? `, scope="${scope}"` : ''}`;
    }
    return { kind: 'answer', answer: errorAnswer(error.code, error.message, { headers }), log: { policy: policy.key, decision: 'deny', reason: error.code, ...extra } };
  }

  async function check(request: GuardRequest, policy: AuthPolicy, context: GuardContext, trace?: DecisionTrace): Promise<GuardDecision> {
    const entry = policies.get(policy.fingerprint);
    if (entry === undefined) return answer(policy, new AuthError('POLICY_NOT_READY', NOT_LOADED.publicMessage));
    // The client is told what is true (not reachable, another issuer, …); the cause stays in the log.
    const readiness = entry.provider.provider.readiness();
    if (!readiness.ready) return answer(policy, new AuthError('POLICY_NOT_READY', readiness.publicMessage));

    // A CORS preflight carries no credentials by design; the policy may let it through.
    if (policy.allowPreflight && request.method === 'OPTIONS' && request.headers.origin !== undefined && request.headers['access-control-request-method'] !== undefined) {
      return allow(policy, {}, null, null, { reason: 'CORS_PREFLIGHT' });
    }

    const token = bearerToken(request);
    if (token instanceof AuthError) return answer(policy, token);
    // A route with both flows: a bearer header is verified as a bearer token, otherwise the session is used.
    if ((token === null || policy.bearer === null) && policy.browser !== null && options.browser !== undefined) {
      const decision = await options.browser.authenticate(request, policy, entry.provider.provider, context, trace);
      if (decision.kind !== 'allow' || decision.caller === null) return decision;
      return withAssertion(decision, policy, assertionFor(decision.caller, policy, context));
    }
    if (token === null || policy.bearer === null) {
      if (policy.unauthenticated === 'Allow') return allow(policy, {}, null, null, { reason: 'UNAUTHENTICATED_ALLOWED' });
      return answer(policy, new AuthError('TOKEN_MISSING', 'This route needs a bearer token.'));
    }

    // Verify before trusting any claim (time on every request), then what the claims grant.
    let claims;
    try {
      const verify = { policy, provider: entry.provider.provider, cache: entry.cache, now: now() };
      // A cache hit needs no promise.
      claims = verifyCachedToken(token, verify) ?? (await verifyNewToken(token, verify));
      if (trace !== undefined) traceVerification(trace, null);
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      if (trace !== undefined) traceVerification(trace, error);
      return answer(policy, error);
    }
    const grant = grantOf(entry, claims);
    try {
      // What the claims alone decide was worked out once for this token (explain's trace has each
      // check recorded again); the CEL rules read the request too, so they run on every request.
      if (trace !== undefined) authorizeClaims(claims, policy, trace);
      else if (grant.denied !== null) throw grant.denied;
      authorizeRules(claims, policy, { kind: 'bearer', request, context }, trace);
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      return answer(policy, error, { ...grant.logged, reason: deniedReason(error) });
    }
    const assertion = assertionFor(grant.caller, policy, context, grant.callerKey);
    if (policy.forward.accessToken) {
      return withAssertion(allow(policy, grant.identity, grant.caller, String(request.headers.authorization), { reason: 'TOKEN_VALID', ...grant.logged }), policy, assertion);
    }
    // The same decision object as the last request's when nothing in it changed (decisions are read, never written).
    const { last } = grant;
    if (last !== null && last.assertion === assertion && last.audience === context.hostname && last.route === context.route) return last.decision;
    const decision = withAssertion(allow(policy, grant.identity, grant.caller, null, { reason: 'TOKEN_VALID', ...grant.logged }), policy, assertion);
    if (decision.kind === 'allow') grant.last = { audience: context.hostname, route: context.route, assertion, decision };
    return decision;
  }

  function grantOf(entry: PolicyEntry, claims: Claims): BearerGrant {
    let grant = entry.grants.get(claims);
    if (grant === undefined) {
      const { policy } = entry;
      let denied: AuthError | null = null;
      try {
        authorizeClaims(claims, policy);
      } catch (error) {
        if (!(error instanceof AuthError)) throw error;
        denied = error;
      }
      const caller = callerOf(claims, policy, 'bearer');
      grant = { denied, caller, callerKey: assertionCallerKey(caller), identity: identityHeaders(claims, caller, policy), logged: loggedCaller(claims), last: null };
      entry.grants.set(claims, grant);
    }
    return grant;
  }

  /** The caller's signed assertion here; null while no key is loaded; undefined where the policy sends none. */
  function assertionFor(caller: Caller, policy: AuthPolicy, context: GuardContext, callerKey?: string): string | null | undefined {
    if (!policy.forward.assertion || options.assertion === undefined) return undefined;
    return options.assertion.sign({ caller, audience: context.hostname, policy: policy.key, route: context.route ?? '', callerKey });
  }

  /**
   * The allowed caller's identity, signed, beside the plain headers. Without a key to sign with
   * (the controller has not read its Secret yet) the request is refused rather than sent
   * upstream without the assertion the upstream may rely on.
   */
  function withAssertion(decision: AllowDecision, policy: AuthPolicy, assertion: string | null | undefined): GuardDecision {
    if (assertion === undefined) return decision;
    if (assertion === null) return answer(policy, new AuthError('ASSERTION_KEY_UNAVAILABLE', "The proxy has no key to sign the caller's identity with yet; try again shortly."), { sub: decision.log.sub, clientId: decision.log.clientId });
    return { ...decision, identity: { ...decision.identity, [ASSERTION_HEADER]: assertion } };
  }

  return {
    sync(table) {
      const wanted = new Map<string, PolicyEntry>();
      for (const policy of table.policies.values()) {
        const existing = policies.get(policy.fingerprint);
        if (existing !== undefined) {
          wanted.set(policy.fingerprint, existing);
          continue;
        }
        const provider = providerFor(policy);
        const entry: PolicyEntry = { policy, provider, cache: createSignatureCache(options.cacheSize ?? 10_000, now), grants: new WeakMap(), lastReadiness: '', loggedDegraded: false };
        provider.policies.add(entry);
        wanted.set(policy.fingerprint, entry);
        reportReadiness(entry);
        reportHealth(entry);
      }
      for (const [fingerprint, entry] of policies) {
        if (!wanted.has(fingerprint)) entry.provider.policies.delete(entry);
      }
      policies.clear();
      for (const [fingerprint, entry] of wanted) policies.set(fingerprint, entry);
      options.browser?.sync([...table.policies.values()].filter((policy) => policy.browser !== null));
      for (const [key, provider] of providers) {
        if (provider.policies.size === 0) {
          provider.provider.close();
          void provider.close();
          providers.delete(key);
        }
      }
    },
    readiness(policy) {
      return policies.get(policy.fingerprint)?.provider.provider.readiness() ?? NOT_LOADED;
    },
    health(policy) {
      return policies.get(policy.fingerprint)?.provider.provider.health() ?? null;
    },
    check,
    async endpoint(request, endpointPolicies, context) {
      if (options.browser === undefined) {
        return { kind: 'answer', answer: errorAnswer('NOT_FOUND', 'No route matches this request.'), log: { policy: endpointPolicies[0]!.key, decision: 'deny', reason: 'NO_BROWSER_FLOW' } };
      }
      const providerOf = (policy: AuthPolicy) => policies.get(policy.fingerprint)?.provider.provider ?? null;
      return options.browser.endpoint(request, endpointPolicies, providerOf, context);
    },
    async close() {
      await options.browser?.close();
      for (const provider of providers.values()) {
        provider.provider.close();
        await provider.close();
      }
      providers.clear();
      policies.clear();
    },
  };
}

/** The provider's health as log fields: what `kubectl get oidcpolicies` shows in KEYS and LAST FETCH. */
function healthFields(health: ProviderHealth): { keys: number; lastFetchTime: string | null } {
  return { keys: health.keys, lastFetchTime: health.lastFetchTime === null ? null : new Date(health.lastFetchTime).toISOString() };
}

function allow(policy: AuthPolicy, identity: Record<string, string>, caller: Caller | null, authorization: string | null, log: Partial<DecisionLog> & { reason: string }): AllowDecision {
  return { kind: 'allow', identity, caller, authorization, cookies: [], log: { policy: policy.key, decision: 'allow', ...log } };
}

/** Who the access log names: the subject and client, never more. */
function loggedCaller(claims: Readonly<Record<string, unknown>>): { sub?: string; clientId?: string } {
  const caller: { sub?: string; clientId?: string } = {};
  if (typeof claims.sub === 'string') caller.sub = claims.sub;
  const client = claims.client_id ?? claims.azp;
  if (typeof client === 'string') caller.clientId = client;
  return caller;
}

/**
 * The token from the one Authorization header, read case-insensitively as `Bearer <token>`
 * (RFC 7235). Never from the query string or a form body. Two Authorization headers are refused.
 */
export function bearerToken(request: GuardRequest): string | null | AuthError {
  if (request.authorizationCount > 1) return new AuthError('MULTIPLE_AUTHORIZATION_HEADERS', 'The request has more than one Authorization header.');
  const header = request.headers.authorization;
  if (typeof header !== 'string') return null;
  const match = /^bearer(?:[ \t]+(\S*))?[ \t]*$/i.exec(header);
  if (match === null) return null; // another scheme: no bearer token
  if (!match[1]) return new AuthError('TOKEN_MALFORMED', 'The Authorization header carries an empty bearer token.');
  return match[1];
}
