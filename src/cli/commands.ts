// The command line, defined once: every command and every flag, with its type, default and
// meaning. Parsing (flags.ts), `--help` (help.ts) and docs/cli.md (scripts/cli-reference.ts)
// are all read from these two lists, so they cannot disagree.
import { CHECK_CONVENTIONS, ENVOY_PREFIX_PATTERN } from '../proxy/check-conventions.ts';
import { STRIPPED_HEADER_PATTERN } from '../proxy/headers.ts';

export const COMMANDS = [
  {
    name: 'standalone',
    synopsis: '-f <file|dir> [-f …] [flags]',
    summary: 'Serves the Routes and OIDCPolicies found in manifest files and folders, re-reading them when they change.',
  },
  {
    name: 'validate',
    synopsis: '-f <file|dir> [-f …] [flags]',
    summary: "Prints each object's conditions; exits 1 when any condition of any object is not True.",
  },
  {
    name: 'explain',
    synopsis: "-f <file|dir> [-X METHOD] [-H 'Name: value' …] [--token <jwt> | --claims <json>] [--output text|json] <url>",
    summary: 'Explains the answer the proxy would give to one request: its target, the rule it matches (or the near misses), the policy, each token and authorization check, and the answer. Exits 0 for an allow, 1 for a refusal.',
    operand: 'url',
  },
  {
    name: 'demo',
    synopsis: '[flags]',
    summary: 'Runs the Amazon Cognito walkthrough on this machine: a local OpenID provider, an httpbin-like upstream and the proxy.',
  },
  {
    name: 'echo',
    synopsis: '[flags]',
    summary: 'Runs the bundled httpbin-like upstream: any path answers 200 with JSON describing the request. Prints its URL.',
  },
  {
    name: 'controller',
    synopsis: '[flags]',
    summary: 'Runs in a Kubernetes cluster (kubeconfig or in-cluster config): serves the Routes and OIDCPolicies of the API server and writes their status.',
  },
] as const satisfies readonly CommandSpec[];

export type CommandName = 'standalone' | 'validate' | 'explain' | 'demo' | 'echo' | 'controller';

export interface CommandSpec {
  readonly name: CommandName;
  /** What follows `portcullis <command>` in the usage line. */
  readonly synopsis: string;
  readonly summary: string;
  /** The one argument that is not a flag (`explain`'s URL), by its name; absent: flags only. */
  readonly operand?: string;
}

/**
 * What a flag's value is, and so how it is checked and what the program receives:
 * `address` → `{ host, port }` (host:port, :port, port or [v6]:port; no host: every interface),
 * `duration` → milliseconds (500ms, 30s, 1h30m), `count` → a whole number, `port` → 1–65535,
 * `peer` → an IP address or CIDR range, `choice` → one of `choices`, `string` → as given.
 */
export type FlagKind = 'boolean' | 'string' | 'choice' | 'address' | 'duration' | 'count' | 'port' | 'peer';

type Default = string | boolean | readonly [];

export interface FlagSpec {
  readonly name: string;
  readonly short?: string;
  readonly kind: FlagKind;
  /** The commands that take this flag. */
  readonly commands: readonly CommandName[];
  /** One line: what the flag does. Starts with a capital, ends with a period. */
  readonly description: string;
  /** As typed on the command line; a map when commands differ. Absent: unset unless given. */
  readonly default?: Default | { readonly [C in CommandName]?: Default };
  /** May be given more than once; the program receives every value, in order. */
  readonly multiple?: boolean;
  /** Refused when absent. */
  readonly required?: boolean;
  /** For `count` and `duration`: the least value accepted (a count, or milliseconds). */
  readonly min?: number;
  /** For `choice`: the accepted values. */
  readonly choices?: readonly string[];
  /** For `string`: a pattern the value must match, and how to describe it when it does not. */
  readonly pattern?: { readonly regex: RegExp; readonly expected: string };
  /** The value's name in usage lines (`--listen <host:port>`); derived from the kind when absent. */
  readonly placeholder?: string;
}

const SERVING = ['standalone', 'controller'] as const;
const LOGGING = ['standalone', 'controller', 'demo'] as const;

export const FLAGS = [
  // --- manifests ---------------------------------------------------------------------------------
  {
    name: 'file', short: 'f', kind: 'string', commands: ['standalone', 'validate', 'explain'], multiple: true, required: true, placeholder: 'file|dir',
    description: 'A manifest file, or a folder read with its subfolders (.yaml, .yml, .json); repeat for more.',
  },
  {
    name: 'mode', kind: 'choice', choices: ['standalone', 'controller'], default: 'standalone', commands: ['validate'],
    description: "The rules to check against: controller's also refuse what only a single process may do (no session secretRef, url backends on loopback, http:// issuers).",
  },
  {
    name: 'check-providers', kind: 'boolean', default: false, commands: ['validate'],
    description: "Also fetch each valid policy's discovery document and signing keys, as the proxy would, and report Ready and the keys fetched.",
  },

  // --- explain: the request to explain -----------------------------------------------------------
  {
    name: 'request', short: 'X', kind: 'string', placeholder: 'method', default: 'GET', commands: ['explain'],
    pattern: { regex: /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/, expected: 'an HTTP method such as GET or POST' },
    description: "The request's method.",
  },
  {
    name: 'header', short: 'H', kind: 'string', placeholder: 'Name: value', multiple: true, default: [], commands: ['explain'],
    pattern: { regex: /^[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\r\n]*$/, expected: 'a header as Name: value' },
    description: 'A request header, as Name: value; repeat for more.',
  },
  {
    name: 'token', kind: 'string', placeholder: 'jwt', commands: ['explain'],
    description: 'A bearer token, sent as Authorization: Bearer <jwt>; its signature is checked when the provider\'s keys can be fetched.',
  },
  {
    name: 'claims', kind: 'string', placeholder: 'json', commands: ['explain'],
    description: 'Claims to authorize with, as a JSON object, taken as verified (no token); instead of --token.',
  },
  {
    name: 'output', short: 'o', kind: 'choice', choices: ['text', 'json'], default: 'text', commands: ['explain'],
    description: 'Text for a person, or JSON in the shape docs/rules.md describes.',
  },
  {
    name: 'provider-timeout', kind: 'duration', default: '10s', commands: ['explain'],
    description: "How long to wait for a provider's discovery document and keys; after that, the token's signature is reported as not checked.",
  },

  // --- the data plane: the same for standalone and controller ------------------------------------
  {
    name: 'listen', kind: 'address', default: ':8080', commands: SERVING,
    description: "The proxy's HTTP listener: host:port, :port or port; without a host, every interface.",
  },
  {
    name: 'listen-tls', kind: 'address', commands: SERVING,
    description: "The proxy's HTTPS listener, with the certificates of the Routes' tls.secretRef (chosen by SNI); none when absent.",
  },
  {
    name: 'listen-h2c', kind: 'address', commands: SERVING,
    description: "The proxy's cleartext HTTP/2 listener (h2c, prior knowledge only), e.g. for gRPC inside the cluster; none when absent.",
  },
  {
    name: 'https-redirect-port', kind: 'port', commands: SERVING,
    description: "The public HTTPS port that a Route's tls.redirectHTTP sends browsers to; default the --listen-tls port, else 443.",
  },
  {
    name: 'ops-listen', kind: 'address', default: ':8081', commands: SERVING,
    description: 'The ops listener: /healthz, /readyz and /metrics.',
  },
  {
    name: 'trust-proxy', kind: 'peer', multiple: true, default: [], commands: SERVING,
    description: 'A peer (IP address or CIDR range) whose X-Forwarded-* and Forwarded headers are believed; repeat for more. None by default.',
  },
  {
    name: 'strip-request-header', kind: 'string', placeholder: 'name|prefix*', multiple: true, default: [], commands: SERVING,
    pattern: { regex: STRIPPED_HEADER_PATTERN, expected: 'a header name, or a prefix ending in * such as x-corp-auth-*' },
    description:
      'Also remove this header (or, ending in *, every header with this prefix) from every request, on every route; repeat for more. ' +
      'Those of ALB (x-amzn-oidc-*), oauth2-proxy, Pomerium, REMOTE_USER setups and X-Portcullis-* always are.',
  },
  {
    name: 'auth-listen', kind: 'string', placeholder: 'host:port[=convention]', multiple: true, default: [], commands: SERVING,
    description:
      'A forward-auth listener: answers checks from nginx auth_request, Traefik ForwardAuth or Envoy ext_authz (=nginx, =traefik, =envoy; default --auth-convention) ' +
      'for trusted peers (--trust-proxy) from the same Routes and policies; repeat for more. None by default.',
  },
  {
    name: 'auth-convention', kind: 'choice', choices: CHECK_CONVENTIONS, default: 'nginx', commands: SERVING,
    description: 'How the callers of an --auth-listen without =convention describe the original request: nginx (X-Original-URI), traefik (X-Forwarded-Uri) or envoy (the path).',
  },
  {
    name: 'auth-envoy-prefix', kind: 'string', placeholder: 'path', commands: SERVING,
    pattern: { regex: ENVOY_PREFIX_PATTERN, expected: 'a path such as /check, without a trailing slash' },
    description: "Envoy ext_authz's path_prefix: on an =envoy listener, the original path follows it. None by default.",
  },
  {
    name: 'auth-default-allow', kind: 'boolean', default: false, commands: SERVING,
    description: 'On a forward-auth listener, allow a request that no Route matches, instead of refusing it (403 NO_ROUTE).',
  },
  {
    name: 'provider-refresh', kind: 'duration', default: '10m', commands: SERVING,
    description: "How often each provider's discovery document and signing keys are fetched again.",
  },
  {
    name: 'signature-cache-size', kind: 'count', default: '10000', commands: SERVING,
    description: 'Verified token signatures remembered per policy; 0 turns the cache off.',
  },
  {
    // A single process on a laptop has no load balancer to tell; a pod behind a Service keeps
    // serving while endpoints controllers and load balancers catch up.
    name: 'drain-delay', kind: 'duration', default: { standalone: '0s', controller: '5s' }, commands: SERVING,
    description: 'On SIGTERM or SIGINT: how long to keep serving with /readyz failing, so that load balancers stop sending first.',
  },
  {
    name: 'shutdown-timeout', kind: 'duration', default: '25s', commands: SERVING,
    description: 'After the drain delay: how long requests in flight may take to finish before their connections are cut.',
  },

  // --- the signed identity (X-Portcullis-Assertion) ----------------------------------------------
  {
    name: 'assertion-issuer', kind: 'string', placeholder: 'name', default: 'portcullis', commands: ['standalone', 'controller', 'demo'],
    pattern: { regex: /^[!-~]{1,1024}$/, expected: 'a name or URL without spaces' },
    description: 'The iss claim of X-Portcullis-Assertion, the signed identity sent upstream.',
  },
  {
    name: 'assertion-key', kind: 'string', placeholder: 'file', commands: ['standalone', 'controller', 'demo'],
    description: 'A PEM file of EC P-256 private keys that sign X-Portcullis-Assertion: the first signs, all are published; read at start. Default a key generated at start.',
  },
  {
    name: 'assertion-key-secret', kind: 'string', placeholder: 'namespace/name', commands: ['controller'],
    pattern: { regex: /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\/[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, expected: 'a Secret as namespace/name' },
    description: 'The Secret whose keys.pem holds the EC P-256 private keys that sign X-Portcullis-Assertion: the first signs, all are published; a change applies at once. Instead of --assertion-key.',
  },

  // --- slow clients and busy upstreams: the same for standalone and controller -------------------
  {
    name: 'client-body-buffer-size', kind: 'count', default: '1048576', commands: SERVING, placeholder: 'bytes',
    description: 'Request bodies up to this many bytes are read in full before an upstream connection is taken.',
  },
  {
    name: 'client-body-timeout', kind: 'duration', min: 1, default: '60s', commands: SERVING,
    description: 'A client silent for longer than this while sending its request body is cut.',
  },
  {
    name: 'send-timeout', kind: 'duration', min: 1, default: '60s', commands: SERVING,
    description: 'A client that reads nothing of the response for longer than this is cut.',
  },
  {
    name: 'upstream-max-connections', kind: 'count', min: 1, default: '1024', commands: SERVING,
    description: 'Connections open to one upstream origin at most.',
  },
  {
    name: 'upstream-queue-size', kind: 'count', default: '1024', commands: SERVING,
    description: 'Requests waiting for a connection to one upstream origin at most; beyond, 503 UPSTREAM_BUSY.',
  },
  {
    name: 'upstream-queue-timeout', kind: 'duration', min: 1, default: '5s', commands: SERVING,
    description: 'The longest wait for an upstream connection, then 503 UPSTREAM_BUSY.',
  },

  // --- the controller ----------------------------------------------------------------------------
  {
    name: 'kubeconfig', kind: 'string', placeholder: 'path', commands: ['controller'],
    description: 'A kubeconfig file; default $KUBECONFIG, ~/.kube/config, then the in-cluster service account.',
  },
  {
    name: 'namespace', short: 'n', kind: 'string', placeholder: 'ns', multiple: true, default: [], commands: ['controller'],
    description: 'Watch this namespace only; repeat for more. Every namespace by default.',
  },
  {
    name: 'class', kind: 'string', placeholder: 'name', default: 'portcullis', commands: ['controller'],
    pattern: { regex: /^(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, expected: 'a lower-case name such as portcullis' },
    description: 'Serve the Routes and OIDCPolicies whose spec.className is this (no className counts as portcullis).',
  },
  {
    name: 'allow-local-backends', kind: 'boolean', default: false, commands: ['controller'],
    description: 'Accept url backends on loopback and link-local addresses (such as 169.254.169.254), refused by default.',
  },
  {
    name: 'allowed-backend-host', kind: 'string', placeholder: 'host', multiple: true, default: [], commands: ['controller'],
    description: 'Accept url backends on this host only; repeat for more. Any host by default.',
  },
  {
    name: 'leader-election', kind: 'boolean', default: true, commands: ['controller'],
    description: 'Elect one replica, through a Lease, to write status; --no-leader-election makes this one write it.',
  },
  {
    name: 'leader-election-namespace', kind: 'string', placeholder: 'ns', commands: ['controller'],
    description: "The Lease's namespace; default the kubeconfig context's, in a pod its own, else default.",
  },
  {
    name: 'leader-election-lease', kind: 'string', placeholder: 'name', commands: ['controller'],
    description: "The Lease's name; default portcullis-leader, or portcullis-leader-<class> for another --class.",
  },
  {
    name: 'leader-election-lease-duration', kind: 'duration', default: '15s', commands: ['controller'],
    description: 'How long a Lease holds after its last renewal before another replica may take it.',
  },
  {
    name: 'leader-election-renew-deadline', kind: 'duration', default: '10s', commands: ['controller'],
    description: 'How long the leader keeps trying to renew before it stops writing status.',
  },
  {
    name: 'leader-election-retry-period', kind: 'duration', default: '2s', commands: ['controller'],
    description: 'How often replicas try to take or renew the Lease.',
  },
  {
    name: 'rebuild-holdoff', kind: 'duration', default: '50ms', commands: ['controller'],
    description: 'After a relevant change, how long to wait for more before compiling a new table.',
  },
  {
    name: 'rebuild-max-holdoff', kind: 'duration', default: '500ms', commands: ['controller'],
    description: 'The longest a change waits for a new table while more changes keep coming.',
  },

  // --- the demo: one loopback port each ----------------------------------------------------------
  { name: 'port', kind: 'port', default: '9080', commands: ['demo'], description: "The proxy's port on 127.0.0.1." },
  { name: 'ops-port', kind: 'port', default: '9082', commands: ['demo'], description: "The ops listener's port on 127.0.0.1." },
  { name: 'provider-port', kind: 'port', default: '9000', commands: ['demo'], description: "The local OpenID provider's port on 127.0.0.1." },
  { name: 'upstream-port', kind: 'port', default: '9081', commands: ['demo'], description: "The upstream's port on 127.0.0.1." },

  // --- the echo upstream -------------------------------------------------------------------------
  // Its own `--port`: a name means one thing within a command, not across all of them.
  { name: 'port', kind: 'port', default: '9081', commands: ['echo'], description: 'The port to listen on.' },
  {
    name: 'host', kind: 'string', placeholder: 'address', default: '127.0.0.1', commands: ['echo'],
    description: 'The address to listen on; 0.0.0.0 or :: for every interface.',
  },

  // --- logs --------------------------------------------------------------------------------------
  {
    name: 'log-level', kind: 'choice', choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info', commands: LOGGING, placeholder: 'level',
    description: 'The least severe level written: fatal, error, warn, info, debug, trace or silent.',
  },
  {
    name: 'log-format', kind: 'choice', choices: ['auto', 'json', 'text'], default: { standalone: 'auto', controller: 'auto', demo: 'text' }, commands: LOGGING,
    description: 'Log lines as JSON, or as text (time, level, message, key=value fields); auto: text when stdout is a terminal, else JSON.',
  },

  // --- every command -----------------------------------------------------------------------------
  {
    name: 'help', short: 'h', kind: 'boolean', commands: ['standalone', 'validate', 'explain', 'demo', 'echo', 'controller'],
    description: "Prints the command's usage and flags, and exits.",
  },
] as const satisfies readonly FlagSpec[];

export type Flag = (typeof FLAGS)[number];

/** The flags a command takes, in the order of the definition. */
export function flagsOf(command: CommandName): readonly FlagSpec[] {
  return FLAGS.filter((flag) => (flag.commands as readonly CommandName[]).includes(command));
}

/** The default of a flag for a command, as typed on the command line; undefined when none. */
export function defaultFor(flag: FlagSpec, command: CommandName): Default | undefined {
  const value = flag.default;
  if (value === undefined || typeof value !== 'object' || Array.isArray(value)) return value as Default | undefined;
  return (value as { readonly [C in CommandName]?: Default })[command];
}
