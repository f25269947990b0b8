import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The import directions between the folders of src/ (docs/architecture.md, "Folders"). Each
// entry says what a folder must not import; `cli/` (the composition root) may import anything,
// and nothing in src/ imports it. A folder's entry replaces the general one for its files, so
// every entry repeats the rule about `cli/`.

/** Modules that reach the outside world (files, network, processes) or log: none of them in a pure folder. */
const IO_MODULES = [
  'fs',
  'fs/promises',
  'net',
  'http',
  'https',
  'http2',
  'tls',
  'dgram',
  'dns',
  'dns/promises',
  'child_process',
  'cluster',
  'worker_threads',
  'os',
  'timers',
  'timers/promises',
  'readline',
];
const IO_PACKAGES = ['undici', '@kubernetes/client-node', 'pino', 'prom-client', 'fastify', 'http-proxy', 'redis', 'openid-client', 'oidc-provider', 'ws', 'playwright-core'];
const escape = (name) => name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
/** The address checks of node:net (`isIP`, `isIPv4`, `isIPv6`) are pure: allowed. */
const PURE_NET = ['isIP', 'isIPv4', 'isIPv6'];

const noIO = {
  paths: IO_MODULES.flatMap((name) => [`node:${name}`, name]).map((name) =>
    name === 'net' || name === 'node:net'
      ? { name, allowImportNames: PURE_NET, message: 'Pure code: only the address checks of node:net.' }
      : { name, message: 'Pure code: no I/O module here (files, network, processes, clocks).' },
  ),
  patterns: [{ regex: `^(?:${IO_PACKAGES.map(escape).join('|')})(?:/|$)`, message: 'Pure code: no client, server, logger or metrics package here.' }],
};

/** A relative import of one of `folders` of src/, from any depth. */
const folders = (names, why) => ({ regex: `^(?:\\.\\.?/)+(?:${names.join('|')})/`, message: why });
const NO_CLI = folders(['cli'], 'cli/ is the composition root: it imports the rest, nothing imports it.');

/**
 * One entry of the directions: `files` must not import `forbidden` folders (nor cli/), nor
 * anything outside their own folder when `outside`, nor I/O when `pure`.
 */
function direction(files, { forbidden = [], outside = false, why = '', pure = false, ignores } = {}) {
  const own = outside ? [{ regex: '^\\.\\./', message: why }] : forbidden.length > 0 ? [folders(forbidden, why)] : [];
  const patterns = [NO_CLI, ...own, ...(pure ? noIO.patterns : [])];
  return {
    files,
    ...(ignores === undefined ? {} : { ignores }),
    rules: { 'no-restricted-imports': ['error', { paths: pure ? noIO.paths : [], patterns }] },
  };
}

const DIRECTIONS = [
  direction(['src/**/*.ts'], { ignores: ['src/cli/**'] }),
  // The bottom: the schemas and the clock import nothing outside their own folder.
  direction(['src/api/**/*.ts'], { outside: true, why: 'api/ is the bottom: it imports only its own files.', pure: true }),
  direction(['src/time/**/*.ts'], { outside: true, why: 'time/ is the bottom: it imports only its own files.' }),
  direction(['src/model/**/*.ts'], {
    forbidden: ['auth', 'compile', 'demo', 'kubernetes', 'match', 'observability', 'proxy', 'sources', 'status', 'time'],
    why: 'model/ holds the types every room shares: it imports only api/.',
    pure: true,
  }),
  // Pure: no client, logger, clock or network inside.
  direction(['src/compile/**/*.ts', 'src/match/**/*.ts'], {
    forbidden: ['auth', 'demo', 'kubernetes', 'observability', 'proxy', 'sources', 'status', 'time'],
    why: 'compile/ and match/ are pure: manifests in, table out; they import only api/, model/, match/ and compile/.',
    pure: true,
  }),
  direction(['src/auth/**/*.ts'], { forbidden: ['proxy', 'sources', 'status', 'kubernetes'], why: 'auth/ decides, the proxy answers: auth/ imports nothing from proxy/ (the contract they share lives in model/).' }),
  direction(['src/kubernetes/**/*.ts'], { forbidden: ['auth', 'compile', 'proxy', 'sources', 'status'], why: 'kubernetes/ is the API client that sources/ and status/ share: it imports neither.' }),
  direction(['src/sources/**/*.ts'], { forbidden: ['auth', 'proxy', 'status'], why: 'sources/ produce snapshots: they know nothing of auth, the proxy or status.' }),
  direction(['src/status/**/*.ts'], { forbidden: ['proxy', 'sources'], why: 'status/ writes what compile() and the auth runtime say: it does not import proxy/ or sources/.' }),
  direction(['src/proxy/**/*.ts'], { forbidden: ['sources', 'status', 'kubernetes'], why: 'proxy/ serves tables: it does not import sources/, status/ or kubernetes/.' }),
];

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'coverage/', 'test/cluster/**/*.go'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  { files: ['**/*.cjs'], languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly', process: 'readonly' } } },
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', fetch: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', structuredClone: 'readonly', queueMicrotask: 'readonly', performance: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  ...DIRECTIONS,
);
