// `portcullis explain`: why a request gets the answer it gets. The manifests are loaded and
// compiled as `validate` does; then the request goes through the functions the proxy's pipeline
// runs, in its order: the target's normaliser, the identity-header strip, the matcher, and the
// guard (the auth runtime's check, its token verification and authorize, with the CEL rules)
// given a trace that records each check. Nothing here decides on its own: what it adds is the
// near misses when nothing matches, and the steps it can still take when the provider's keys
// cannot be fetched (everything but the signature, marked not checked).
import { createFetcher } from '../auth/fetcher.ts';
import { authorize } from '../auth/authorize.ts';
import { createBrowserFlow } from '../auth/browser/flow.ts';
import { AuthError } from '../auth/errors.ts';
import { createProvider, type ProviderReadiness } from '../auth/provider.ts';
import { deniedReason } from '../auth/rules.ts';
import { bearerToken, createAuthRuntime } from '../auth/runtime.ts';
import { traceVerification } from '../auth/trace.ts';
import { createSignatureCache, decodeToken, verifyBearerToken, type Claims } from '../auth/verify.ts';
import { compile } from '../compile/compile.ts';
import { buildMatcher } from '../match/matcher.ts';
import { normalizeTarget } from '../match/normalize.ts';
import type { Answer } from '../model/answer.ts';
import type { GuardContext, GuardDecision, GuardRequest } from '../model/guard.ts';
import type { AuthPolicy } from '../model/policy.ts';
import { DEFAULT_COMPILE_OPTIONS, type CompileOptions } from '../model/snapshot.ts';
import type { CompiledRule, MatchRequest, RouteTable } from '../model/table.ts';
import type { TraceStep } from '../model/trace.ts';
import { createLogger } from '../observability/logger.ts';
import { strippedHeaders, stripIdentityHeaders } from '../proxy/headers.ts';
import { loadManifestFiles } from '../sources/files.ts';
import { toSnapshot } from '../sources/manifests.ts';
import { UsageError } from './usage-error.ts';

export interface ExplainOptions {
  readonly paths: readonly string[];
  /** Absolute: `http(s)://host[:port]/path?query`. */
  readonly url: string;
  readonly method: string;
  /** `Name: value` lines. */
  readonly headers: readonly string[];
  readonly token?: string;
  /** A JSON object, taken as verified claims. */
  readonly claims?: string;
  readonly providerTimeoutMs: number;
}

/** The JSON output: a stable shape, documented in docs/rules.md. */
export interface Explanation {
  readonly request: { readonly method: string; readonly url: string; readonly headers: readonly string[] };
  /** The normalised target; null when the normaliser refused it (the answer says why). */
  readonly target: { readonly host: string; readonly path: string; readonly query: string } | null;
  /** The rule that matched; null when none did (see nearMisses) or before matching. */
  readonly match: { readonly route: string; readonly rule: string; readonly public: boolean } | null;
  /** When nothing matched: rules that nearly did, and what differs. */
  readonly nearMisses: readonly { readonly rule: string; readonly differs: string }[];
  readonly policy: { readonly name: string; readonly provider: { readonly ready: boolean; readonly message: string } | null } | null;
  /** Token verification and authorization checks, in the order made; stops at the first failure, as the proxy does. */
  readonly checks: readonly TraceStep[];
  readonly answer: ExplainedAnswer;
}

export interface ExplainedAnswer {
  /** allow: forwarded with the caller's identity; forward: a public rule; refuse: an error answer; redirect: to sign in or to HTTPS. */
  readonly decision: 'allow' | 'forward' | 'refuse' | 'redirect';
  readonly status: number | null;
  readonly code: string | null;
  readonly message: string | null;
  /** The access log's reason (TOKEN_VALID, rule:<name>, …), when the guard decided. */
  readonly reason: string | null;
  /** For a rule that cannot serve (503 POLICY_INVALID, …): why, from its Route's status. */
  readonly detail?: string;
}

const MAX_NEAR_MISSES = 10;

export async function explain(options: ExplainOptions): Promise<Explanation> {
  const { scheme, authority, target: rawTarget } = splitURL(options.url);
  const headers = requestHeaders(options, authority);
  const request = { method: options.method.toUpperCase(), url: options.url, headers: Object.keys(headers).sort() };
  const claims = options.claims === undefined ? null : parseClaims(options.claims);

  const compileOptions: CompileOptions = { ...DEFAULT_COMPILE_OPTIONS, mode: 'standalone', generatedSessionKey: 'explain-only-key-explain-only-key-00000' };
  const loaded = await loadManifestFiles(options.paths, compileOptions.defaultNamespace);
  const { table, statuses } = compile(toSnapshot(loaded.objects, loaded.problems, compileOptions.defaultNamespace), compileOptions);

  const none = { target: null, match: null, nearMisses: [], policy: null, checks: [] } as const;
  const normalised = normalizeTarget(rawTarget, headers.host as string);
  if (!normalised.ok) return { request, ...none, answer: refusal(normalised.code, normalised.status, normalised.message) };
  const target = { host: normalised.host, path: normalised.path, query: normalised.query };

  // As the pipeline: the client's identity headers go before anything reads the request.
  stripIdentityHeaders(headers, table.identityHeaders, strippedHeaders());
  const matchRequest: MatchRequest = { host: target.host, path: target.path, method: request.method, headers, query: target.query };
  const endpoint = table.authEndpoints.get(target.path);
  if (endpoint !== undefined) {
    const answer = { decision: 'redirect', status: null, code: null, message: `The browser flow's callback or logout path of ${endpoint.map((p) => p.key).join(', ')}: the proxy answers it on every host.`, reason: null } as const;
    return { request, ...none, target, answer };
  }
  const rule = table.matcher.match(matchRequest);
  if (rule === null) return { request, ...none, target, nearMisses: nearMisses(table, matchRequest), answer: refusal('NOT_FOUND', 404, 'No route matches this request.') };

  const match = { route: rule.route.key, rule: rule.id, public: rule.action.kind === 'forward' && rule.action.policy === null };
  if (rule.httpsRedirect && scheme === 'http') {
    return { request, ...none, target, match, answer: { decision: 'redirect', status: 308, code: null, message: 'Plain HTTP is redirected to HTTPS (tls.redirectHTTP).', reason: null } };
  }
  const action = rule.action;
  if (action.kind === 'respond') {
    // Why the rule cannot serve is in its Route's status: Programmed says it (else the conditions that are not True).
    const failing = statuses.find((s) => s.kind === 'Route' && s.namespace === rule.route.namespace && s.name === rule.route.name)?.conditions.filter((c) => c.status !== 'True') ?? [];
    const why = failing.filter((c) => c.type === 'Programmed').concat(failing.some((c) => c.type === 'Programmed') ? [] : failing);
    const detail = why.map((c) => `${c.type} ${c.reason}: ${c.message}`).join(' ');
    return { request, ...none, target, match, answer: { ...refusal(action.code, action.status, action.message), ...(detail === '' ? {} : { detail }) } };
  }
  if (action.policy === null) return { request, ...none, target, match, answer: { decision: 'forward', status: null, code: null, message: 'A public rule: forwarded without identity.', reason: null } };

  const policy = action.policy;
  const guardRequest: GuardRequest = { method: request.method, headers, authorizationCount: headers.authorization === undefined ? 0 : 1 };
  const context: GuardContext = { requestId: 'explain', scheme, host: headers.host as string, hostname: target.host, route: rule.route.key, path: target.path, query: target.query, upgrade: false };
  const checks: TraceStep[] = [];
  const trace = { record: (step: TraceStep) => checks.push(step) };

  if (claims !== null) {
    const answer = authorizeClaims(claims, policy, guardRequest, context, trace);
    return { request, target, match, nearMisses: [], policy: { name: policy.key, provider: null }, checks, answer };
  }
  const guarded = await guard(table, policy, guardRequest, context, trace, options.providerTimeoutMs);
  return { request, target, match, nearMisses: [], policy: { name: policy.key, provider: guarded.provider }, checks, answer: guarded.answer };
}

/**
 * The auth runtime of the proxy, for this one policy: its check, with the trace. When the
 * provider's keys cannot be fetched in time, a token is still checked for all but its algorithm,
 * key and signature (not checked), so that the rest of the decision can be seen.
 */
async function guard(table: RouteTable, policy: AuthPolicy, request: GuardRequest, context: GuardContext, trace: { record(step: TraceStep): void }, timeoutMs: number) {
  let settle: (readiness: ProviderReadiness) => void = () => {};
  const settled = new Promise<ProviderReadiness>((resolve) => (settle = resolve));
  const logger = createLogger({ level: 'silent' });
  const runtime = createAuthRuntime({ logger, browser: createBrowserFlow({ logger }), cacheSize: 0, onReadinessChange: (changed, readiness) => changed.key === policy.key && settle(readiness) });
  try {
    runtime.sync({ ...table, policies: new Map([[policy.key, policy]]) });
    const timer = setTimeout(() => settle(runtime.readiness(policy)), timeoutMs);
    const readiness = await settled;
    clearTimeout(timer);
    const provider = { ready: readiness.ready, message: readiness.message };
    const token = bearerToken(request);
    if (readiness.ready || typeof token !== 'string' || policy.bearer === null) {
      return { provider, answer: fromDecision(await runtime.check(request, policy, context, trace)) };
    }
    return { provider, answer: await withoutSignature(token, policy, request, context, trace) };
  } finally {
    await runtime.close();
  }
}

/** The token's checks but its signature's (the provider's keys are out of reach): the answer the proxy would give once it can verify it. */
async function withoutSignature(token: string, policy: AuthPolicy, request: GuardRequest, context: GuardContext, trace: { record(step: TraceStep): void }): Promise<ExplainedAnswer> {
  const unchecked = new Set(['algorithm', 'key', 'signature']);
  const fetcher = createFetcher({ caBundle: policy.caBundle });
  const provider = createProvider({ issuer: policy.issuer, discoveryURL: policy.discoveryURL, fetchJSON: fetcher.fetchJSON });
  let claims: Claims | undefined;
  try {
    const decoded = decodeToken(token).claims;
    if (decoded.iss !== policy.issuer) throw new AuthError('TOKEN_ISSUER_MISMATCH', 'The token was issued by another issuer.');
    // The decoded claims stand in for verified ones: verifyBearerToken then makes every later step.
    const cache = createSignatureCache(1, () => Date.now());
    cache.set(token, decoded);
    claims = await verifyBearerToken(token, { policy, provider, cache, now: Date.now() });
    traceVerification(trace, null, unchecked);
    authorize(claims, policy, { kind: 'bearer', request, context }, trace);
    return { decision: 'allow', status: null, code: null, message: 'Allowed if the signature is valid (not checked).', reason: 'TOKEN_VALID' };
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
    if (claims === undefined) traceVerification(trace, error, unchecked);
    return { ...refusal(error.code, error.status, error.message), reason: deniedReason(error) };
  } finally {
    provider.close();
    await fetcher.close();
  }
}

function authorizeClaims(claims: Claims, policy: AuthPolicy, request: GuardRequest, context: GuardContext, trace: { record(step: TraceStep): void }): ExplainedAnswer {
  try {
    authorize(claims, policy, { kind: policy.bearer === null ? 'session' : 'bearer', request, context }, trace);
    return { decision: 'allow', status: null, code: null, message: 'Allowed: the claims pass every check (taken as verified).', reason: null };
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
    return { ...refusal(error.code, error.status, error.message), reason: deniedReason(error) };
  }
}

function fromDecision(decision: GuardDecision): ExplainedAnswer {
  if (decision.kind === 'allow') return { decision: 'allow', status: null, code: null, message: 'Allowed: forwarded with the caller\'s identity.', reason: decision.log.reason };
  return { ...answerOf(decision.answer), reason: decision.log.reason };
}

function answerOf(answer: Answer): ExplainedAnswer {
  switch (answer.kind) {
    case 'error':
      return refusal(answer.code, answer.status, answer.message);
    case 'redirect':
      return { decision: 'redirect', status: answer.status, code: null, message: answer.status === 302 ? 'Redirected to sign in.' : 'Redirected to HTTPS.', reason: null };
    default:
      return { decision: 'redirect', status: answer.status, code: null, message: 'A page of the sign-in flow.', reason: null };
  }
}

function refusal(code: string, status: number, message: string): ExplainedAnswer {
  return { decision: 'refuse', status, code, message, reason: null };
}

/**
 * Rules that nearly match, each tried on its own with the same matcher: one whose host admits the
 * request but not its path, or whose path matches but not its host, method, headers or query.
 */
function nearMisses(table: RouteTable, request: MatchRequest): { rule: string; differs: string }[] {
  const misses: { rule: string; differs: string }[] = [];
  const matches = (rule: CompiledRule, overrides: Partial<CompiledRule>) => buildMatcher([{ ...rule, ...overrides }]).match(request) !== null;
  const anyPath = { path: { type: 'PathPrefix', value: '/', pattern: null }, method: null, headers: [], queryParams: [] } as const;
  for (const rule of table.rules) {
    const path = `${rule.path.type} ${rule.path.value}`;
    const hostAdmits = matches(rule, anyPath);
    const pathMatches = matches(rule, { hostnames: [], method: null, headers: [], queryParams: [] });
    if (hostAdmits && !pathMatches) misses.push({ rule: rule.id, differs: `path: the rule takes ${path}` });
    else if (!hostAdmits && pathMatches) misses.push({ rule: rule.id, differs: `host: the rule takes ${rule.hostnames.join(', ')}` });
    else if (hostAdmits && pathMatches) {
      const differs: string[] = [];
      if (rule.method !== null && !matches(rule, { headers: [], queryParams: [] })) differs.push(`method: the rule takes ${rule.method}`);
      if (rule.headers.length > 0 && !matches(rule, { method: null, queryParams: [] })) differs.push(`headers: the rule needs ${rule.headers.map((h) => `${h.name} ${h.type} ${h.value}`).join(', ')}`);
      if (rule.queryParams.length > 0 && !matches(rule, { method: null, headers: [] })) differs.push(`query: the rule needs ${rule.queryParams.map((q) => `${q.name} ${q.type} ${q.value}`).join(', ')}`);
      if (differs.length > 0) misses.push({ rule: rule.id, differs: differs.join('; ') });
    }
    if (misses.length === MAX_NEAR_MISSES) break;
  }
  return misses;
}

/** `http://host:port/p?q` → its parts, the target as written (not normalised by URL, so the normaliser sees it). */
function splitURL(url: string): { scheme: 'http' | 'https'; authority: string; target: string } {
  const parts = /^(https?):\/\/([^/?#\s]+)([^#\s]*)(#.*)?$/i.exec(url);
  if (parts === null) throw new UsageError(`The URL ${JSON.stringify(url)} is not an http(s) URL such as http://api.example.com/orders.`);
  const target = parts[3]!;
  return { scheme: parts[1]!.toLowerCase() as 'http' | 'https', authority: parts[2]!, target: target === '' ? '/' : target.startsWith('?') ? `/${target}` : target };
}

function requestHeaders(options: ExplainOptions, authority: string): Record<string, string | string[] | undefined> {
  const headers: Record<string, string | string[] | undefined> = {};
  for (const line of options.headers) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (headers[name] !== undefined) throw new UsageError(`-H ${line.slice(0, colon)} is given twice: give each header once.`);
    headers[name] = value;
  }
  headers.host ??= authority;
  if (options.token !== undefined) {
    if (options.claims !== undefined) throw new UsageError('--token and --claims both describe the caller: give one.');
    if (headers.authorization !== undefined) throw new UsageError('--token and -H Authorization both set the Authorization header: give one.');
    headers.authorization = `Bearer ${options.token}`;
  }
  return headers;
}

function parseClaims(text: string): Claims {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError('--claims is not JSON: give an object such as {"sub": "alice", "cognito:groups": ["admins"]}.');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UsageError('--claims must be a JSON object, such as {"sub": "alice"}.');
  return value as Claims;
}

/** 0 for an allow or a forward to a public rule, 1 for anything else. */
export function exitCode(explanation: Explanation): 0 | 1 {
  return explanation.answer.decision === 'allow' || explanation.answer.decision === 'forward' ? 0 : 1;
}

export function formatExplanation(e: Explanation): string {
  const lines = [`Request   ${e.request.method} ${e.request.url}${e.request.headers.length > 0 ? ` (headers: ${e.request.headers.join(', ')})` : ''}`];
  if (e.target !== null) lines.push(`Target    host ${e.target.host}, path ${e.target.path}${e.target.query === '' ? '' : `, query ${e.target.query}`}`);
  if (e.match !== null) lines.push(`Match     ${e.match.rule} (Route ${e.match.route}${e.match.public ? ', public' : ''})`);
  else if (e.target !== null) lines.push('Match     none');
  for (const miss of e.nearMisses) lines.push(`  near miss ${miss.rule}: ${miss.differs}`);
  if (e.policy !== null) {
    const provider = e.policy.provider === null ? 'claims given, no token' : e.policy.provider.ready ? 'provider ready' : `provider not ready: ${e.policy.provider.message}`;
    lines.push(`Policy    ${e.policy.name} (${provider})`);
  }
  if (e.checks.length > 0) {
    lines.push('Checks');
    const width = Math.max(...e.checks.map((step) => step.check.length));
    for (const step of e.checks) lines.push(`  ${step.result.padEnd(11)} ${step.check.padEnd(width)}  ${step.detail}`);
  }
  const a = e.answer;
  const head = a.decision === 'allow' ? 'allow' : a.decision === 'forward' ? 'forward' : `${a.status ?? ''} ${a.code ?? a.decision}`.trim();
  lines.push(`Answer    ${head}${a.message === null ? '' : `: ${a.message}`}${a.reason !== null && a.reason !== a.code ? ` (reason ${a.reason})` : ''}`);
  if (a.detail !== undefined) lines.push(`Why       ${a.detail}`);
  return lines.join('\n');
}
