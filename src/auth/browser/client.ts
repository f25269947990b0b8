// openid-client (v6) configurations, one per policy, built from the discovery document the
// provider runtime already holds (no second discovery), with client_secret_basic or _post as the
// provider supports, and requests sent through an undici agent that trusts the policy's CA bundle.
import { getCACertificates } from 'node:tls';
import * as oidc from 'openid-client';
import { Agent, fetch as undiciFetch } from 'undici';
import type { AuthPolicy } from '../../model/policy.ts';
import type { Provider, ProviderMetadata } from '../provider.ts';

/** How long a token, revocation or refresh request may take, in seconds. */
const TIMEOUT_SECONDS = 10;

interface Entry {
  readonly metadata: ProviderMetadata;
  readonly config: oidc.Configuration;
}

export interface ClientCache {
  /** The configuration for `policy`, or null while the provider's discovery is not known. */
  get(policy: AuthPolicy, provider: Provider): oidc.Configuration | null;
  /** Forgets policies not in `fingerprints`. */
  retain(fingerprints: ReadonlySet<string>): void;
  close(): Promise<void>;
}

export function createClientCache(): ClientCache {
  const entries = new Map<string, Entry>();
  const agents = new Map<string, Agent>();

  function agentFor(caBundle: string | null): Agent {
    const key = caBundle ?? '';
    let agent = agents.get(key);
    if (agent === undefined) {
      // `ca` replaces Node's list: start from the default one (bundled roots and NODE_EXTRA_CA_CERTS).
      const ca = caBundle === null ? undefined : [...getCACertificates('default'), caBundle];
      agent = new Agent({ connect: { ca, timeout: 5_000 } });
      agents.set(key, agent);
    }
    return agent;
  }

  return {
    get(policy, provider) {
      const metadata = provider.metadata();
      if (metadata === null) return null;
      const cached = entries.get(policy.fingerprint);
      // The provider refetches discovery now and then: a new document, a new configuration.
      if (cached !== undefined && cached.metadata === metadata) return cached.config;
      const config = buildConfiguration(policy, metadata, agentFor(policy.caBundle));
      entries.set(policy.fingerprint, { metadata, config });
      return config;
    },
    retain(fingerprints) {
      for (const fingerprint of entries.keys()) if (!fingerprints.has(fingerprint)) entries.delete(fingerprint);
    },
    async close() {
      entries.clear();
      await Promise.all([...agents.values()].map((agent) => agent.close()));
      agents.clear();
    },
  };
}

function buildConfiguration(policy: AuthPolicy, metadata: ProviderMetadata, agent: Agent): oidc.Configuration {
  const secret = policy.clientSecret ?? undefined;
  const config = new oidc.Configuration(metadata as oidc.ServerMetadata, policy.clientID, { [oidc.clockTolerance]: Math.ceil(policy.clockSkewMs / 1000) }, clientAuthentication(metadata, secret));
  config.timeout = TIMEOUT_SECONDS;
  config[oidc.customFetch] = (url, options) => undiciFetch(url, { ...options, dispatcher: agent }) as unknown as Promise<Response>;
  // openid-client refuses plain HTTP; the compiler accepts http:// providers on loopback only.
  if (usesPlainHTTP(metadata)) oidc.allowInsecureRequests(config);
  return config;
}

/** client_secret_basic when the provider lists it (or lists nothing: OAuth's default), else _post. */
function clientAuthentication(metadata: ProviderMetadata, secret: string | undefined): oidc.ClientAuth {
  if (secret === undefined) return oidc.None();
  const supported = metadata.token_endpoint_auth_methods_supported;
  if (supported === undefined || supported.includes('client_secret_basic')) return oidc.ClientSecretBasic(secret);
  if (supported.includes('client_secret_post')) return oidc.ClientSecretPost(secret);
  return oidc.ClientSecretBasic(secret);
}

function usesPlainHTTP(metadata: ProviderMetadata): boolean {
  return [metadata.authorization_endpoint, metadata.token_endpoint, metadata.revocation_endpoint, metadata.end_session_endpoint].some((url) => typeof url === 'string' && url.startsWith('http:'));
}
