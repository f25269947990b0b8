// HTTP/2 and gRPC rows of the proxy benchmark, each with nginx in the same run as its baseline:
//
//   HTTP/2 pass-through   client ─h2 over TLS─► proxy ─HTTP/1.1─► the echo upstream
//   gRPC unary            client ─h2 over TLS─► proxy ─h2c─► a minimal gRPC server
//
// nginx: one worker, `listen … ssl http2`, proxy_pass with keep-alive, grpc_pass. Portcullis: the
// real CLI, `--listen-tls`, the route's certificate by SNI, a url backend (appProtocol
// kubernetes.io/h2c for gRPC). The load: h2-load.ts (wrk speaks HTTP/1.1 only), 4 connections ×
// 8 streams in flight. Every row in every round; CPU time of the row's process tree per request.
//
//   node bench/proxy/h2.ts [--duration 5] [--rounds 3]
//
// writes its table to bench/RESULTS.md under "Proxy, HTTP/2 and gRPC". For `npm run bench`:
// `writeResultsSection(H2_RESULTS_HEADING, await runH2Bench({ durationS, rounds }))`.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnEchoServer } from '../../test/support/echo-server.ts';
import { nginxConfig } from '../../test/support/nginx-config.ts';
import { createTestPki, type TestPki } from '../../test/support/tls.ts';
import { writeResultsSection } from '../results.ts';
import { createCpuClock } from './cpu.ts';
import type { H2LoadResult } from './h2-load.ts';
import { nginxVersion } from './nginx.ts';
import { listeningURL } from './portcullis.ts';
import { freePort, startScript, stopChild, waitForPort, type Running } from './processes.ts';

const HOST = 'bench.example.test';
const CLI = fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url));
const LOAD = fileURLToPath(new URL('h2-load.ts', import.meta.url));
const GRPC_UPSTREAM = fileURLToPath(new URL('grpc-upstream.ts', import.meta.url));
const GRPC_PATH = '/bench.Echo/Unary';

/** The section of bench/RESULTS.md these rows write, run alone or from `npm run bench`. */
export const H2_RESULTS_HEADING = 'Proxy, HTTP/2 and gRPC';

export type H2Scenario = 'HTTP/2 pass-through' | 'gRPC unary';

interface Upstreams {
  /** The echo upstream (HTTP/1.1) and the gRPC one (h2c). */
  readonly http: string;
  readonly grpc: string;
  readonly pki: TestPki;
}

export interface H2Row {
  readonly name: string;
  readonly scenario: H2Scenario;
  /** The row every other row of its scenario is compared with. */
  readonly baseline: boolean;
  start(upstreams: Upstreams): Promise<Running>;
}

/** Two rows per scenario: nginx, then Portcullis. */
export const H2_ROWS: readonly H2Row[] = [
  { name: 'nginx, 1 worker, HTTP/2 pass-through', scenario: 'HTTP/2 pass-through', baseline: true, start: (u) => startNginxH2(u, 'http') },
  { name: 'portcullis, HTTP/2 pass-through', scenario: 'HTTP/2 pass-through', baseline: false, start: (u) => startPortcullisTLS(u, 'http') },
  { name: 'nginx, 1 worker, gRPC unary (grpc_pass)', scenario: 'gRPC unary', baseline: true, start: (u) => startNginxH2(u, 'grpc') },
  { name: 'portcullis, gRPC unary', scenario: 'gRPC unary', baseline: false, start: (u) => startPortcullisTLS(u, 'grpc') },
];

async function startNginxH2(upstreams: Upstreams, kind: 'http' | 'grpc'): Promise<Running> {
  const target = new URL(kind === 'http' ? upstreams.http : upstreams.grpc);
  const port = await freePort();
  const prefix = mkdtempSync(join(tmpdir(), 'portcullis-bench-nginx-h2-'));
  const pair = upstreams.pki.issue([HOST]);
  writeFileSync(join(prefix, 'tls.crt'), pair.cert);
  writeFileSync(join(prefix, 'tls.key'), pair.key);
  const location =
    kind === 'http'
      ? 'proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $http_host;'
      : 'grpc_pass grpc://backend;';
  writeFileSync(
    join(prefix, 'nginx.conf'),
    nginxConfig(
      prefix,
      `  keepalive_requests 1000000;
  upstream backend {
    server ${target.hostname}:${target.port};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port} ssl http2;
    ssl_certificate ${prefix}/tls.crt;
    ssl_certificate_key ${prefix}/tls.key;
    location / { ${location} }
  }`,
    ),
  );
  const child = spawn('nginx', ['-p', prefix, '-c', join(prefix, 'nginx.conf')], { stdio: ['ignore', 'inherit', 'inherit'] });
  try {
    await waitForPort(port);
  } catch (error) {
    const log = join(prefix, 'error.log');
    throw new Error(`nginx did not start${existsSync(log) ? `: ${readFileSync(log, 'utf8')}` : ''}`, { cause: error });
  }
  return {
    url: `https://127.0.0.1:${port}`,
    pid: child.pid,
    version: nginxVersion(),
    stop: async () => {
      await stopChild(child);
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

async function startPortcullisTLS(upstreams: Upstreams, kind: 'http' | 'grpc'): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-h2-'));
  const pair = upstreams.pki.issue([HOST]);
  const backend = kind === 'http' ? `{url: "${upstreams.http}"}` : `{url: "${upstreams.grpc}", appProtocol: kubernetes.io/h2c}`;
  writeFileSync(
    join(dir, 'bench.yaml'),
    `apiVersion: v1
kind: Secret
metadata: {name: bench}
type: kubernetes.io/tls
data: {tls.crt: ${Buffer.from(pair.cert).toString('base64')}, tls.key: ${Buffer.from(pair.key).toString('base64')}}
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: bench}
spec:
  hostnames: [${HOST}]
  tls: {secretRef: {name: bench}}
  rules: [{backends: [${backend}]}]
`,
  );
  const child = spawn(CLI, ['standalone', '-f', dir, '--listen', '127.0.0.1:0', '--listen-tls', '127.0.0.1:0', '--ops-listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await listeningURL(child, 'proxyTLS');
  return {
    url,
    pid: child.pid,
    stop: async () => {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function load(row: H2Row, running: Running, pki: TestPki, durationS: number): Promise<H2LoadResult> {
  const args = [LOAD, running.url, '--mode', row.scenario === 'gRPC unary' ? 'grpc' : 'get', '--path', row.scenario === 'gRPC unary' ? GRPC_PATH : '/anything'];
  args.push('--duration', String(durationS), '--ca', pki.caFile, '--servername', HOST, '--authority', HOST);
  return new Promise((resolve, reject) =>
    execFile(process.execPath, args, { encoding: 'utf8' }, (error, stdout, stderr) => (error ? reject(new Error(`${error.message}: ${stderr}`)) : resolve(JSON.parse(stdout.trim()) as H2LoadResult))),
  );
}

interface Measured {
  readonly load: H2LoadResult;
  readonly cpuMicrosPerRequest: number | null;
}

export interface H2BenchSettings {
  readonly durationS: number;
  readonly rounds: number;
}

/** Starts every row, checks it answers, measures it in every round, and answers the report (markdown). */
export async function runH2Bench(settings: H2BenchSettings): Promise<string> {
  const cpu = createCpuClock();
  const pki = createTestPki();
  const echo = await spawnEchoServer();
  const grpc = await startScript(GRPC_UPSTREAM, []);
  const upstreams: Upstreams = { http: echo.url, grpc: grpc.url, pki };
  const started: { row: H2Row; running: Running; rounds: Measured[] }[] = [];
  const absent: { row: H2Row; reason: string }[] = [];
  try {
    for (const row of H2_ROWS) {
      let running: Running | null = null;
      try {
        running = await row.start(upstreams);
        // Measured only once it answers well (and warmed up).
        const check = await load(row, running, pki, 1);
        if (check.requests === 0 || check.errors > 0) throw new Error(`${check.errors} errors in ${check.requests + check.errors} requests.`);
        started.push({ row, running, rounds: [] });
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        console.error(`${row.name}: absent: ${reason}`);
        absent.push({ row, reason });
        await running?.stop().catch(() => {});
      }
    }
    for (let round = 1; round <= settings.rounds; round++) {
      for (const { row, running, rounds } of started) {
        const before = running.pid === undefined ? null : cpu.treeMicros(running.pid);
        const result = await load(row, running, pki, settings.durationS);
        const after = running.pid === undefined ? null : cpu.treeMicros(running.pid);
        const cpuMicrosPerRequest = before === null || after === null || result.requests === 0 ? null : (after - before) / result.requests;
        rounds.push({ load: result, cpuMicrosPerRequest });
        console.log(
          `round ${round}  ${row.name.padEnd(44)} ${result.requestsPerSecond.toFixed(0).padStart(7)} req/s  ${cpuMicrosPerRequest === null ? '—' : cpuMicrosPerRequest.toFixed(0).padStart(5)} µs CPU/req  p50 ${result.p50Ms.toFixed(2)} ms  p99 ${result.p99Ms.toFixed(2)} ms${result.errors ? `  ${result.errors} errors` : ''}`,
        );
      }
    }
  } finally {
    for (const { running } of started.reverse()) await running.stop().catch((error: unknown) => console.error(error));
    await grpc.stop();
    await echo.stop();
    pki.remove();
  }
  return report(started.reverse(), absent, settings);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function report(rows: readonly { row: H2Row; running: Running; rounds: Measured[] }[], absent: readonly { row: H2Row; reason: string }[], settings: H2BenchSettings): string {
  const lines = [
    `HTTP/2 over TLS from the client (h2-load.ts: 4 connections × 8 streams, ${settings.durationS} s × ${settings.rounds} rounds, medians); CPU per request is the row's process tree. ` +
      'The load generator is Node.js on the same two cores: it caps the fastest rows (nginx), so CPU per request compares the rows better than req/s.',
    '',
    '| row | req/s | CPU µs/request | p50 ms | p99 ms | req/s vs nginx (same scenario) |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  const rps = (r: (typeof rows)[number]) => median(r.rounds.map((m) => m.load.requestsPerSecond));
  for (const entry of rows) {
    const baseline = rows.find((other) => other.row.baseline && other.row.scenario === entry.row.scenario);
    const cpu = entry.rounds.map((m) => m.cpuMicrosPerRequest).filter((v): v is number => v !== null);
    const ratio = baseline === undefined ? '—' : `${(rps(entry) / rps(baseline)).toFixed(2)}×`;
    const name = entry.running.version === undefined ? entry.row.name : `${entry.row.name} (${entry.running.version})`;
    lines.push(
      `| ${name} | ${rps(entry).toFixed(0)} | ${cpu.length === 0 ? '—' : median(cpu).toFixed(0)} | ${median(entry.rounds.map((m) => m.load.p50Ms)).toFixed(2)} | ${median(entry.rounds.map((m) => m.load.p99Ms)).toFixed(2)} | ${ratio} |`,
    );
  }
  for (const { row, reason } of absent) lines.push(`| ${row.name} | absent: ${reason.replace(/\|/g, '/').replace(/\n/g, ' ')} | | | | |`);
  return lines.join('\n');
}

if (process.argv[1] === import.meta.filename) {
  const argv = process.argv.slice(2);
  const value = (name: string, fallback: number): number => {
    const i = argv.indexOf(name);
    return i === -1 ? fallback : Number(argv[i + 1]);
  };
  const settings = { durationS: value('--duration', 5), rounds: value('--rounds', 3) };
  if (!(settings.durationS >= 1 && settings.durationS <= 60) || !Number.isInteger(settings.rounds) || settings.rounds < 1 || settings.rounds > 5) {
    console.error('--duration must be 1 to 60 seconds, --rounds 1 to 5.');
    process.exit(2);
  }
  runH2Bench(settings).then(
    (table) => {
      console.log(`\n${table}`);
      writeResultsSection(H2_RESULTS_HEADING, table);
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
