// npm run bench:table — compile time, match time and memory of the routing table at 10, 1,000
// and 10,000 routes. Each size runs in its own process so that RSS figures do not mix.
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { compile } from '../src/compile/compile.ts';
import { DEFAULT_COMPILE_OPTIONS, EMPTY_SNAPSHOT } from '../src/model/snapshot.ts';
import type { Route } from '../src/api/route.ts';
import type { MatchRequest } from '../src/model/table.ts';
import { writeResultsSection } from './results.ts';

const SIZES = [10, 1_000, 10_000];
const LOOKUPS = 2_000_000;

interface Figures {
  routes: number;
  rules: number;
  compileMs: number;
  matchNs: number;
  uniformNs: number;
  hitRate: number;
  rssMB: number;
  heapMB: number;
}

/** A realistic fleet: about ten Routes a host, prefixes and exact paths, a few regexes, headers and methods. */
function makeRoutes(count: number): Route[] {
  const hosts = Math.max(1, Math.floor(count / 10));
  return Array.from({ length: count }, (_, i): Route => {
    const host = i % 7 === 0 ? `*.tenant-${i % hosts}.example.com` : `svc-${i % hosts}.example.com`;
    const rules: Route['spec']['rules'] = [
      { matches: [{ path: { type: 'PathPrefix', value: `/api/v${i % 3}/resource-${i}` } }], backends: [{ url: `http://10.0.${i % 250}.${(i >> 8) % 250}:8080`, weight: 1 }] },
      { matches: [{ path: { type: 'Exact', value: `/health-${i}` }, method: 'GET' }], backends: [{ url: 'http://10.1.0.1:8080', weight: 1 }] },
    ];
    if (i % 20 === 0) rules.push({ matches: [{ path: { type: 'RegularExpression', value: `/items-${i}/[0-9]+` } }], backends: [{ url: 'http://10.2.0.1:8080', weight: 1 }] });
    if (i % 5 === 0) rules.push({ matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [{ name: 'x-canary', type: 'Exact', value: 'true' }] }], backends: [{ url: 'http://10.3.0.1:8080', weight: 1 }] });
    return { apiVersion: 'portcullis.dev/v1alpha1', kind: 'Route', metadata: { name: `route-${i}`, namespace: `team-${i % 13}` }, spec: { hostnames: [host], rules } };
  });
}

/**
 * 10,000 requests over the routes. `zipf`: route popularity follows Zipf's law (s = 1), as real
 * traffic does — a few routes get most requests. `uniform`: every route equally often, the worst
 * case for the CPU caches.
 */
function makeRequests(count: number, mix: 'zipf' | 'uniform'): MatchRequest[] {
  const hosts = Math.max(1, Math.floor(count / 10));
  const requests: MatchRequest[] = [];
  const weights = Array.from({ length: count }, (_, rank) => 1 / (rank + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  const cumulative: number[] = [];
  weights.reduce((sum, w, i) => (cumulative[i] = sum + w / total), 0);
  let seed = 42;
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  for (let n = 0; n < 10_000; n++) {
    // Ranks are scattered over the routes, so popular routes live on many hosts.
    const rank = mix === 'uniform' ? n % count : Math.min(count - 1, cumulative.findIndex((c) => c >= random()));
    const i = (rank * 7919) % count;
    const host = i % 7 === 0 ? `app.tenant-${i % hosts}.example.com` : `svc-${i % hosts}.example.com`;
    const kind = n % 10;
    const path = kind < 6 ? `/api/v${i % 3}/resource-${i}/items/${n}` : kind < 8 ? `/health-${i}` : kind < 9 ? `/items-${i - (i % 20)}/${n}` : `/missing/${n}`;
    requests.push({ host, path, method: 'GET', headers: { accept: 'application/json', 'user-agent': 'bench' }, query: '' });
  }
  return requests;
}

function measure(count: number): Figures {
  const routes = makeRoutes(count);
  globalThis.gc?.();
  const before = process.memoryUsage();
  const compileRuns: number[] = [];
  let result = compile({ ...EMPTY_SNAPSHOT, routes }, DEFAULT_COMPILE_OPTIONS);
  for (let run = 0; run < 5; run++) {
    const started = performance.now();
    result = compile({ ...EMPTY_SNAPSHOT, routes }, DEFAULT_COMPILE_OPTIONS);
    compileRuns.push(performance.now() - started);
  }
  globalThis.gc?.();
  const after = process.memoryUsage();
  const matcher = result.table.matcher;
  const time = (requests: MatchRequest[]) => {
    let hits = 0;
    for (let n = 0; n < 200_000; n++) if (matcher.match(requests[n % requests.length]!)) hits++; // warm-up
    hits = 0;
    const started = process.hrtime.bigint();
    for (let n = 0; n < LOOKUPS; n++) if (matcher.match(requests[n % requests.length]!)) hits++;
    return { ns: Number(process.hrtime.bigint() - started) / LOOKUPS, hitRate: hits / LOOKUPS };
  };
  const zipf = time(makeRequests(count, 'zipf'));
  const uniform = time(makeRequests(count, 'uniform'));
  compileRuns.sort((a, b) => a - b);
  return {
    routes: count,
    rules: result.table.rules.length,
    compileMs: compileRuns[2]!,
    matchNs: zipf.ns,
    uniformNs: uniform.ns,
    hitRate: zipf.hitRate,
    rssMB: (after.rss - before.rss) / 2 ** 20,
    heapMB: (after.heapUsed - before.heapUsed) / 2 ** 20,
  };
}

const sizeArg = process.argv.indexOf('--size');
if (sizeArg !== -1) {
  process.stdout.write(JSON.stringify(measure(Number(process.argv[sizeArg + 1]))));
} else {
  const figures: Figures[] = SIZES.map((size) =>
    JSON.parse(execFileSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--size', String(size)], { encoding: 'utf8' })),
  );
  const base = figures[0]!;
  const largest = figures[figures.length - 1]!;
  const rows = figures.map(
    (f) =>
      `| ${f.routes.toLocaleString('en')} | ${f.rules.toLocaleString('en')} | ${f.compileMs.toFixed(1)} | ${f.matchNs.toFixed(0)} | ${(f.matchNs / base.matchNs).toFixed(2)}× | ${f.uniformNs.toFixed(0)} | ${(f.uniformNs / base.uniformNs).toFixed(2)}× | ${(f.hitRate * 100).toFixed(0)}% | ${f.rssMB.toFixed(1)} | ${f.heapMB.toFixed(1)} |`,
  );
  const matchRatio = largest.matchNs / base.matchNs;
  const body = [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${process.version} (load average ${loadavg()[0]!.toFixed(1)}), ${LOOKUPS.toLocaleString('en')} lookups over a 10,000-request mix (60% prefix, 20% exact, 10% regex, 10% misses), compile = median of 5.`,
    'Zipf: route popularity follows Zipf\'s law (s = 1), as real traffic does. Uniform: every route equally often — the worst case for the CPU caches, since a lookup then walks memory no other lookup warmed; at 10 routes everything sits in L1 either way.',
    '',
    '| routes | compiled rules | compile ms | match ns (Zipf) | vs 10 routes | match ns (uniform) | vs 10 routes | hits | RSS growth MB | heap growth MB |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    `Targets: match at 10,000 routes within 1.5× of 10 routes (Zipf mix) — ${matchRatio <= 1.5 ? 'met' : 'MISSED'} (${matchRatio.toFixed(2)}×; uniform mix ${(largest.uniformNs / base.uniformNs).toFixed(2)}×, which is memory latency, not work: the same 10,000-route table answers a hot set of 10 requests as fast as the 10-route table); compile of 10,000 routes under 1 s — ${largest.compileMs < 1000 ? 'met' : 'MISSED'} (${largest.compileMs.toFixed(0)} ms).`,
  ].join('\n');
  console.log(body);
  writeResultsSection('Routing table (npm run bench:table)', body);
}
