// OIDCPolicy → AuthPolicy: defaults applied, Secrets resolved, mode rules enforced.
import { createHash, X509Certificate } from 'node:crypto';
import { durationToMs } from '../api/common.ts';
import { secretValue } from '../api/core.ts';
import type { ClusterOIDCPolicy } from '../api/clusteroidcpolicy.ts';
import type { OIDCPolicy } from '../api/oidcpolicy.ts';
import { clusterPolicyKey, type AuthPolicy, type BearerSettings, type BrowserSettings, type Provider, type SessionSettings } from '../model/policy.ts';
import type { ObjectStatus } from '../model/status.ts';
import { finding, objectStatus, type Finding } from './conditions.ts';
import type { CompileOptions } from '../model/snapshot.ts';
import type { SnapshotIndex } from './snapshot-index.ts';
import { compileRules } from './rules.ts';

export const POLICY_DEFAULTS = {
  scopes: ['openid'],
  callbackPath: '/oauth2/callback',
  logoutPath: '/oauth2/logout',
  cookieName: '_portcullis',
  idleTimeout: '8h',
  absoluteTimeout: '24h',
  clockSkew: '60s',
  redisKeyPrefix: 'portcullis:session:',
  revocationKeyPrefix: 'portcullis:revoked:',
} as const;

/** The shortest session key accepted, in characters of the Secret's line. */
export const MIN_SESSION_KEY_LENGTH = 32;

/**
 * `provider: Auto` takes Cognito's semantics for Cognito's own issuers, and for an issuer whose
 * path is just a user pool id (`/us-east-1_AbCd1234`, `/local_AbCd1234`): the shape Cognito's
 * local emulators and test stand-ins use, and no other provider's.
 */
const COGNITO_ISSUER = /^https:\/\/cognito-idp\.[a-z0-9-]+\.amazonaws\.com\/[a-z0-9-]+_[A-Za-z0-9]+$/;
const COGNITO_POOL_PATH = /^https?:\/\/[^/]+\/(?:[a-z]{2}(?:-gov)?-[a-z]+-\d|local)_[A-Za-z0-9]+$/;

/** The provider whose semantics a policy gets: as written, or what `Auto` recognises in the issuer. */
export function resolveProvider(spec: Pick<OIDCPolicy['spec'], 'provider' | 'issuer'>): Provider {
  if (spec.provider !== 'Auto') return spec.provider;
  // Recognised with or without a trailing slash, so that compile refuses the slash rather than
  // turning a Cognito issuer into a Generic one.
  const bare = spec.issuer.replace(/\/+$/, '');
  return COGNITO_ISSUER.test(bare) || COGNITO_POOL_PATH.test(bare) ? 'Cognito' : 'Generic';
}

/** Headers a policy may not set from claims: the proxy or HTTP itself owns them. */
export const FORBIDDEN_FORWARD_HEADERS: ReadonlySet<string> = new Set([
  'host', 'authorization', 'cookie', 'set-cookie', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'content-length', 'content-type', 'forwarded', 'x-forwarded-for', 'x-forwarded-host',
  'x-forwarded-proto', 'x-request-id',
]);

/** Authorization request parameters that the flow itself owns. */
const PROTOCOL_PARAMS = new Set(['response_type', 'client_id', 'redirect_uri', 'state', 'nonce', 'code_challenge', 'code_challenge_method', 'scope', 'response_mode', 'request', 'request_uri', 'client_secret']);

export interface CompiledPolicies {
  /** Policies that compiled, by `namespace/name`. */
  readonly ready: Map<string, AuthPolicy>;
  /** Policies that exist but did not compile, by `namespace/name`, with why. */
  readonly broken: Map<string, string>;
  readonly statuses: ObjectStatus[];
}

export function compilePolicies(policies: readonly OIDCPolicy[], index: SnapshotIndex, options: CompileOptions): CompiledPolicies {
  const result: CompiledPolicies = { ready: new Map(), broken: new Map(), statuses: [] };
  for (const policy of policies) {
    const namespace = index.namespaceOf(policy.metadata);
    const key = `${namespace}/${policy.metadata.name}`;
    const findings: Finding[] = [];
    const compiled = compilePolicy(policy, namespace, index, options, findings);
    if (compiled !== null && findings.length === 0) result.ready.set(key, compiled);
    else result.broken.set(key, findings[0] ? `${findings[0].field}: ${findings[0].message}` : 'The policy did not compile.');
    result.statuses.push(objectStatus('OIDCPolicy', namespace, policy.metadata.name, policy.metadata.generation ?? null, ['Accepted', 'ResolvedRefs'], findings));
  }
  return result;
}

/**
 * ClusterOIDCPolicies, into the same maps as OIDCPolicies (their keys, `ClusterOIDCPolicy/name`,
 * never meet a `namespace/name`). Their Secret references name their namespace.
 */
export function compileClusterPolicies(policies: readonly ClusterOIDCPolicy[], index: SnapshotIndex, options: CompileOptions, into: CompiledPolicies): void {
  for (const policy of policies) {
    const key = clusterPolicyKey(policy.metadata.name);
    const findings: Finding[] = [];
    // The spec is an OIDCPolicy's whose references carry a namespace (refNamespace reads it).
    const compiled = compilePolicy(policy, '', index, options, findings);
    if (compiled !== null && findings.length === 0) into.ready.set(key, compiled);
    else into.broken.set(key, findings[0] ? `${findings[0].field}: ${findings[0].message}` : 'The policy did not compile.');
    into.statuses.push(objectStatus('ClusterOIDCPolicy', '', policy.metadata.name, policy.metadata.generation ?? null, ['Accepted', 'ResolvedRefs'], findings));
  }
}

/** The namespace of a Secret or ConfigMap reference: its own (a ClusterOIDCPolicy's), else the policy's. */
function refNamespace(ref: object, namespace: string): string {
  return 'namespace' in ref && typeof ref.namespace === 'string' ? ref.namespace : namespace;
}

/** `namespace` '' for a ClusterOIDCPolicy: its key is then `ClusterOIDCPolicy/name`, and its references name their namespaces. */
function compilePolicy(policy: Pick<OIDCPolicy, 'metadata' | 'spec'>, namespace: string, index: SnapshotIndex, options: CompileOptions, findings: Finding[]): AuthPolicy | null {
  const key = namespace === '' ? clusterPolicyKey(policy.metadata.name) : `${namespace}/${policy.metadata.name}`;
  const spec = policy.spec;
  const invalid = (field: string, message: string) => findings.push(finding('Accepted', 'Invalid', field, message));

  // The issuer is compared with `iss` exactly, so it is kept as written (some end in "/").
  const issuer = spec.issuer;
  checkProviderURL(issuer, 'spec.issuer', options, invalid);
  const discoveryURL = spec.discoveryURL ?? `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  if (spec.discoveryURL !== undefined) checkProviderURL(discoveryURL, 'spec.discoveryURL', options, invalid);

  const provider = resolveProvider(spec);
  const bare = issuer.replace(/\/+$/, '');
  if (provider === 'Cognito' && bare !== issuer) {
    invalid('spec.issuer', `Cognito's tokens name their issuer without a trailing slash (${JSON.stringify(bare)}), so no token would ever match this one: drop the trailing slash.`);
  }
  const clientSecret = spec.clientSecretRef ? readSecret(index, namespace, spec.clientSecretRef, 'spec.clientSecretRef', findings) : null;

  let caBundle: string | null = null;
  if (spec.caBundleRef) {
    const ref = spec.caBundleRef;
    const field = 'spec.caBundleRef';
    if (ref.kind === 'ConfigMap') {
      const at = refNamespace(ref, namespace);
      const configMap = index.configMap(at, ref.name);
      caBundle = configMap?.data?.[ref.key] ?? null;
      if (configMap === undefined) findings.push(finding('ResolvedRefs', 'ConfigMapNotFound', field, `ConfigMap ${at}/${ref.name} does not exist.`));
      else if (caBundle === null) findings.push(finding('ResolvedRefs', 'SecretKeyNotFound', field, `ConfigMap ${at}/${ref.name} has no key ${JSON.stringify(ref.key)}.`));
    } else {
      caBundle = readSecret(index, refNamespace(ref, namespace), { name: ref.name, key: ref.key }, field, findings);
    }
    if (caBundle !== null && !caBundle.includes('-----BEGIN CERTIFICATE-----')) invalid(field, 'The referenced value holds no PEM certificate.');
    else if (caBundle !== null) {
      // Caught here rather than at the first TLS handshake, where it would read as a connection failure.
      const unreadable = unreadableCertificate(caBundle);
      if (unreadable !== null) invalid(field, unreadable);
    }
  }

  const browserOn = spec.browser !== undefined && spec.browser.enabled !== false;
  const bearerOn = spec.bearer?.enabled ?? (spec.bearer !== undefined || !browserOn);
  if (!browserOn && !bearerOn) invalid('spec', 'Enable the browser flow, bearer tokens, or both.');

  const browser = browserOn ? compileBrowser(policy, namespace, index, options, findings) : null;
  const bearer = bearerOn ? compileBearer(policy, invalid) : null;

  const unauthenticated = spec.unauthenticated ?? (browserOn ? 'Redirect' : 'Deny');
  if (unauthenticated === 'Redirect' && !browserOn) invalid('spec.unauthenticated', 'Redirect needs the browser flow (spec.browser).');

  const headers: [string, string][] = [];
  for (const [header, claim] of Object.entries(spec.forward?.headers ?? {})) {
    const name = header.toLowerCase();
    const key = name.replaceAll('_', '-');
    if (FORBIDDEN_FORWARD_HEADERS.has(key) || key.startsWith('x-portcullis-')) invalid(`spec.forward.headers.${header}`, `The header ${header} cannot carry a claim.`);
    else headers.push([name, claim]);
  }
  headers.sort((a, b) => (a[0] < b[0] ? -1 : 1));

  const rules = compileRules(spec.authorization?.rules ?? [], (field, message) => findings.push(finding('Accepted', 'InvalidRule', field, message)));

  if (findings.length > 0) return null;
  const compiled: Omit<AuthPolicy, 'fingerprint'> = {
    key,
    namespace,
    name: policy.metadata.name,
    issuer,
    discoveryURL,
    provider,
    clientID: spec.clientID,
    clientSecret,
    caBundle,
    scopes: spec.scopes ?? [...POLICY_DEFAULTS.scopes],
    browser,
    bearer,
    unauthenticated,
    authorization: {
      requiredScopes: spec.authorization?.requiredScopes ?? [],
      groups: spec.authorization?.groups ?? [],
      claims: spec.authorization?.claims ?? [],
      rules,
    },
    forward: {
      headers,
      accessToken: spec.forward?.accessToken ?? false,
      idToken: spec.forward?.idToken ?? false,
      defaultHeaders: spec.forward?.defaultHeaders ?? true,
      assertion: spec.forward?.assertion ?? true,
    },
    allowPreflight: spec.cors?.allowPreflight ?? false,
    clockSkewMs: durationToMs(spec.clockSkew ?? POLICY_DEFAULTS.clockSkew),
  };
  return { ...compiled, fingerprint: createHash('sha256').update(JSON.stringify(compiled)).digest('base64url').slice(0, 16) };
}

function compileBrowser(policy: Pick<OIDCPolicy, 'spec'>, namespace: string, index: SnapshotIndex, options: CompileOptions, findings: Finding[]): BrowserSettings | null {
  const browser = policy.spec.browser!;
  const session = browser.session ?? {};
  const invalid = (field: string, message: string) => findings.push(finding('Accepted', 'Invalid', field, message));

  let keys: string[] = [];
  let generatedKey = false;
  if (session.secretRef) {
    const value = readSecret(index, namespace, session.secretRef, 'spec.browser.session.secretRef', findings);
    if (value !== null) {
      keys = value.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '');
      if (keys.length === 0 || keys.some((key) => key.length < MIN_SESSION_KEY_LENGTH)) {
        findings.push(finding('ResolvedRefs', 'InvalidSessionKey', 'spec.browser.session.secretRef', `Each line must be a key of at least ${MIN_SESSION_KEY_LENGTH} characters.`));
      }
    }
  } else if (options.mode === 'controller' || options.generatedSessionKey === null) {
    invalid('spec.browser.session.secretRef', 'Required in controller mode, so that every replica shares the session key.');
  } else {
    keys = [options.generatedSessionKey];
    generatedKey = true;
  }

  const sameSite = session.sameSite ?? 'Lax';
  if (sameSite === 'None' && session.secure === false) invalid('spec.browser.session.sameSite', 'SameSite=None requires Secure cookies.');
  const idleTimeoutMs = durationToMs(session.idleTimeout ?? POLICY_DEFAULTS.idleTimeout);
  const absoluteTimeoutMs = durationToMs(session.absoluteTimeout ?? POLICY_DEFAULTS.absoluteTimeout);
  if (idleTimeoutMs > absoluteTimeoutMs) invalid('spec.browser.session.idleTimeout', 'Must not be longer than absoluteTimeout.');

  // session.redis holds the sessions with store Redis; with the cookie store, the ids of sessions
  // logged out, so that every replica refuses them.
  let store: SessionSettings['store'] = { kind: 'Cookie', revocations: null };
  if (session.redis) {
    const password = session.redis.passwordSecretRef
      ? readSecret(index, namespace, session.redis.passwordSecretRef, 'spec.browser.session.redis.passwordSecretRef', findings)
      : null;
    const address = session.redis.address;
    store =
      session.store === 'Redis'
        ? { kind: 'Redis', address, password, keyPrefix: session.redis.keyPrefix ?? POLICY_DEFAULTS.redisKeyPrefix }
        : { kind: 'Cookie', revocations: { address, password, keyPrefix: session.redis.keyPrefix ?? POLICY_DEFAULTS.revocationKeyPrefix } };
  }

  const callbackPath = browser.callbackPath ?? POLICY_DEFAULTS.callbackPath;
  const logoutPath = browser.logoutPath ?? POLICY_DEFAULTS.logoutPath;
  if (callbackPath === logoutPath) invalid('spec.browser.logoutPath', 'Must differ from callbackPath.');
  const postLogoutRedirectURL = browser.postLogoutRedirectURL ?? null;
  if (postLogoutRedirectURL !== null && !/^(https?:\/\/[^\s]+|\/[^/\\\s][^\s]*|\/)$/.test(postLogoutRedirectURL)) {
    invalid('spec.browser.postLogoutRedirectURL', 'Must be an http(s) URL or an absolute path.');
  }

  for (const name of Object.keys(browser.authorizationParams ?? {})) {
    if (PROTOCOL_PARAMS.has(name)) invalid(`spec.browser.authorizationParams.${name}`, `${name} is set by Portcullis for every sign-in and cannot be overridden.`);
  }

  return {
    callbackPath,
    logoutPath,
    postLogoutRedirectURL,
    authorizationParams: browser.authorizationParams ?? {},
    refresh: browser.refresh ?? true,
    session: {
      keys,
      generatedKey,
      cookieName: session.cookieName ?? POLICY_DEFAULTS.cookieName,
      cookieDomain: session.cookieDomain ?? null,
      sameSite,
      secure: session.secure ?? null,
      idleTimeoutMs,
      absoluteTimeoutMs,
      store,
    },
  };
}

function compileBearer(policy: Pick<OIDCPolicy, 'spec'>, invalid: (field: string, message: string) => void): BearerSettings {
  const bearer = policy.spec.bearer ?? {};
  const allowedClientIDs = bearer.allowedClientIDs ?? [policy.spec.clientID];
  const audiences = bearer.audiences ?? [policy.spec.clientID];
  // An empty list would mean "accept any client": never.
  if (allowedClientIDs.length === 0) invalid('spec.bearer.allowedClientIDs', 'Must name at least one client ID.');
  if (audiences.length === 0) invalid('spec.bearer.audiences', 'Must name at least one audience.');
  return { tokenUse: bearer.tokenUse ?? 'access', allowedClientIDs, audiences };
}

/** Why a certificate of a PEM bundle cannot be read, naming which one; null when all can. */
function unreadableCertificate(bundle: string): string | null {
  const blocks = bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (error) {
      // OpenSSL's "error:04800064:PEM routines::bad base64 decode": the words after the last "::".
      const reason = (error as Error).message.split('::').at(-1)!.trim();
      const code = (error as { code?: string }).code;
      return `Certificate ${i + 1} of ${blocks.length} in the bundle cannot be read: ${reason}${code ? ` (${code})` : ''}.`;
    }
  }
  return null;
}

function readSecret(index: SnapshotIndex, policyNamespace: string, ref: { name: string; key: string }, field: string, findings: Finding[]): string | null {
  const namespace = refNamespace(ref, policyNamespace);
  const secret = index.secret(namespace, ref.name);
  if (secret === undefined) {
    findings.push(finding('ResolvedRefs', 'SecretNotFound', field, `Secret ${namespace}/${ref.name} does not exist.`));
    return null;
  }
  const value = secretValue(secret, ref.key);
  if (value === undefined) {
    findings.push(finding('ResolvedRefs', 'SecretKeyNotFound', field, `Secret ${namespace}/${ref.name} has no key ${JSON.stringify(ref.key)}.`));
    return null;
  }
  return value;
}

/** https everywhere; http only for a loopback provider, and only outside a cluster. */
function checkProviderURL(raw: string, field: string, options: CompileOptions, invalid: (field: string, message: string) => void): void {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    invalid(field, `${JSON.stringify(raw)} is not a URL.`);
    return;
  }
  // The value is shown in statuses and logs, and a provider's documents are public anyway.
  if (url.username !== '' || url.password !== '') invalid(field, 'Must not carry a user name or password.');
  if (url.protocol === 'https:') return;
  if (url.protocol !== 'http:') invalid(field, 'Must be an https URL.');
  else if (options.mode === 'controller') invalid(field, 'Must be an https URL; http is refused in controller mode.');
  else if (!isLoopbackHost(url.hostname)) invalid(field, 'Must be an https URL; http is accepted only for a loopback provider.');
}

export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
