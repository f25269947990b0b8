// npm run bench [-- --duration 5 --rounds 3 --path /anything --only <text>[,<text>…]]
//
// Forwarding speed on loopback: wrk (1 thread, 32 connections, --latency) against the echo
// upstream directly and through each row of rows.ts, every row measured in every round
// (rounds interleave the rows, so drift hits all of them alike), with the CPU time of the row's
// own process tree per request. Prints a table and, unless --only picks some rows, writes it
// to bench/RESULTS.md under "Proxy". Then (also unless --only) the HTTP/2 and gRPC rows, each
// with nginx beside it (h2.ts: wrk speaks HTTP/1.1 only), under "Proxy, HTTP/2 and gRPC".
import { loadavg } from 'node:os';
import { startCognitoMint, withPayload, type CognitoMint } from '../../src/demo/cognito-mint.ts';
import { spawnEchoServer } from '../../test/support/echo-server.ts';
import { writeResultsSection } from '../results.ts';
import { createCpuClock, type CpuTime } from './cpu.ts';
import type { Running } from './processes.ts';
import { H2_RESULTS_HEADING, runH2Bench } from './h2.ts';
import { BASELINE, BEARER_CACHE_HIT, FORWARDER, PASS_THROUGH, PASS_THROUGH_TOKEN_SENT, ROWS, type BenchContext, type BenchRow } from './rows.ts';
import { commandOutput, ensureCommands, machineSummary } from './tools.ts';
import { runWrk, type WrkOptions, type WrkResult } from './wrk.ts';

interface Settings {
  readonly durationS: number;
  readonly rounds: number;
  readonly path: string;
  /** Only the rows whose name contains one of these (lower case); null: every row. */
  readonly only: readonly string[] | null;
}

function parseArgs(argv: readonly string[]): Settings {
  const value = (name: string, fallback: string): string => {
    const i = argv.indexOf(name);
    return i === -1 ? fallback : (argv[i + 1] ?? fallback);
  };
  const durationS = Number(value('--duration', '5'));
  const rounds = Number(value('--rounds', '3'));
  const path = value('--path', '/anything');
  const only = value('--only', '');
  if (!(durationS >= 5 && durationS <= 10)) throw new TypeError('--duration must be 5 to 10 seconds.');
  if (!Number.isInteger(rounds) || rounds < 2 || rounds > 5) throw new TypeError('--rounds must be 2 to 5.');
  if (!path.startsWith('/')) throw new TypeError('--path must start with "/".');
  return { durationS, rounds, path, only: only === '' ? null : only.toLowerCase().split(',') };
}

const WRK: Omit<WrkOptions, 'durationS'> = { threads: 1, connections: 32 };

interface Measured {
  readonly wrk: WrkResult;
  /** CPU time of the row's process tree during the run, per request served; null without a process. */
  readonly cpuMicrosPerRequest: number | null;
  /** The kernel's part of it (system time). */
  readonly systemMicrosPerRequest: number | null;
  /** The resident memory of the row's process tree right after the run, in MiB; null without a process. */
  readonly rssMiB: number | null;
}

type Outcome =
  | { readonly row: BenchRow; readonly rounds: Measured[]; readonly version?: string }
  | { readonly row: BenchRow; readonly absent: string };

async function main(): Promise<void> {
  const settings = parseArgs(process.argv.slice(2));
  ensureCommands({ wrk: 'wrk', nginx: 'nginx' });
  const rows = ROWS.filter((row) => settings.only === null || settings.only.some((text) => row.name.toLowerCase().includes(text)));

  const loadBefore = loadavg()[0] ?? 0;
  const cpu = createCpuClock();
  const echo = await spawnEchoServer();
  const mint = await startCognitoMint({ lifetime: 24 * 3600 });
  const context: BenchContext = { upstream: echo.url, upstreamPid: echo.pid, mint, token: mint.mint({}, { kind: 'machine' }) };
  const outcomes: Outcome[] = [];
  const started: { row: BenchRow; running: Running; headers: Record<string, string>; rounds: Measured[] }[] = [];
  try {
    for (const row of rows) {
      const headers: Record<string, string> = row.token === 'none' ? {} : { authorization: `Bearer ${context.token}` };
      let running: Running | null = null;
      try {
        running = await row.start(context);
        await checkRow(row, running, settings.path, context);
        const rounds: Measured[] = [];
        started.push({ row, running, headers, rounds });
        outcomes.push({ row, rounds, ...(running.version === undefined ? {} : { version: running.version }) });
      } catch (error) {
        // A row that cannot be built, started or trusted is reported absent, never dropped.
        const reason = error instanceof Error ? error.message : String(error);
        console.error(`${row.name}: absent: ${reason}`);
        outcomes.push({ row, absent: reason });
        await running?.stop().catch(() => {});
      }
    }

    for (const { running, headers } of started) await runWrk(running.url + settings.path, { ...WRK, durationS: 1, headers }); // warm-up
    for (let round = 1; round <= settings.rounds; round++) {
      for (const { row, running, headers, rounds } of started) {
        const before = running.pid === undefined ? null : cpu.tree(running.pid);
        const wrk = await runWrk(running.url + settings.path, { ...WRK, durationS: settings.durationS, headers });
        const after = running.pid === undefined ? null : cpu.tree(running.pid);
        const perRequest = (micros: (time: CpuTime) => number): number | null =>
          before === null || after === null || wrk.requests === 0 ? null : (micros(after) - micros(before)) / wrk.requests;
        const cpuMicrosPerRequest = perRequest((time) => time.userMicros + time.systemMicros);
        const systemMicrosPerRequest = perRequest((time) => time.systemMicros);
        const rssMiB = running.pid === undefined ? null : cpu.treeRssMiB(running.pid);
        rounds.push({ wrk, cpuMicrosPerRequest, systemMicrosPerRequest, rssMiB });
        console.log(
          `round ${round}  ${row.name.padEnd(48)} ${wrk.requestsPerSecond.toFixed(0).padStart(7)} req/s  ` +
            `${cpuMicrosPerRequest === null ? '   — ' : cpuMicrosPerRequest.toFixed(0).padStart(5)} µs CPU/req ` +
            `(system ${systemMicrosPerRequest === null ? '—' : systemMicrosPerRequest.toFixed(0)})  ` +
            `p50 ${wrk.p50Ms.toFixed(2)} ms  p99 ${wrk.p99Ms.toFixed(2)} ms${rssMiB === null ? '' : `  RSS ${rssMiB.toFixed(0)} MiB`}${wrk.errors ? `  ${wrk.errors} errors` : ''}`,
        );
      }
    }

    const table = `${report(outcomes, settings, [loadBefore, loadavg()[0] ?? 0])}\n\n${targets(outcomes)}`;
    console.log(`\n${table}`);
    if (settings.only === null) writeResultsSection('Proxy (npm run bench)', table);
    else console.log('\n(--only: bench/RESULTS.md left as it was.)');
  } finally {
    for (const { running } of started.reverse()) await running.stop().catch((error: unknown) => console.error(error));
    await echo.stop();
    await mint.close();
  }
}

/** A row is measured only once it forwards a good request, and a bearer row only once it refuses a missing or forged token. */
async function checkRow(row: BenchRow, running: Running, path: string, context: BenchContext): Promise<void> {
  const status = async (authorization?: string): Promise<number> => {
    const response = await fetch(running.url + path, { headers: authorization === undefined ? {} : { authorization } });
    await response.arrayBuffer();
    return response.status;
  };
  const expect = async (what: string, authorization: string | undefined, wanted: number): Promise<void> => {
    const got = await status(authorization);
    if (got !== wanted) throw new Error(`It answered ${got}, not ${wanted}, ${what}.`);
  };
  if (row.token === 'none') return expect(`on ${path}`, undefined, 200);
  if (row.token === 'sent') return expect(`on ${path} with the token`, `Bearer ${context.token}`, 200);
  await expect(`on ${path} with the token`, `Bearer ${context.token}`, 200);
  await expect(`on ${path} without a token`, undefined, 401);
  await expect(`on ${path} with a forged token`, `Bearer ${forged(context.mint, context.token)}`, 401);
}

/** The token with another subject and its original signature. */
function forged(mint: CognitoMint, token: string): string {
  return withPayload(token, { ...mint.claims('machine'), sub: 'someone-else' });
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

interface Summary {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly cpuMicrosPerRequest: number | null;
  readonly systemMicrosPerRequest: number | null;
  readonly rssMiB: number | null;
  readonly errors: number;
}

function summarise(rounds: readonly Measured[]): Summary {
  const medianOf = (values: readonly (number | null)[]): number | null =>
    values.length > 0 && values.every((value) => value !== null) ? median(values as number[]) : null;
  return {
    requestsPerSecond: median(rounds.map((r) => r.wrk.requestsPerSecond)),
    p50Ms: median(rounds.map((r) => r.wrk.p50Ms)),
    p99Ms: median(rounds.map((r) => r.wrk.p99Ms)),
    cpuMicrosPerRequest: medianOf(rounds.map((r) => r.cpuMicrosPerRequest)),
    systemMicrosPerRequest: medianOf(rounds.map((r) => r.systemMicrosPerRequest)),
    rssMiB: medianOf(rounds.map((r) => r.rssMiB)),
    errors: rounds.reduce((sum, r) => sum + r.wrk.errors, 0),
  };
}

function summaries(outcomes: readonly Outcome[]): Map<string, Summary> {
  return new Map(outcomes.flatMap((outcome) => ('rounds' in outcome && outcome.rounds.length > 0 ? [[outcome.row.name, summarise(outcome.rounds)] as const] : [])));
}

/** Issue 13's targets for the hot path (item 4), each said met or MISSED, from the medians. */
function targets(outcomes: readonly Outcome[]): string {
  const rows = summaries(outcomes);
  const roundsOf = new Map(outcomes.flatMap((outcome) => ('rounds' in outcome ? [[outcome.row.name, outcome.rounds] as const] : [])));
  const forwarder = rows.get(FORWARDER);
  const passThrough = rows.get(PASS_THROUGH);
  const cached = rows.get(BEARER_CACHE_HIT);
  const tokenSent = rows.get(PASS_THROUGH_TOKEN_SENT);
  const ratioOf = (value: number | null | undefined, of: number | null | undefined): string =>
    value == null || of == null ? 'not measured' : `${value.toFixed(0)} vs ${of.toFixed(0)} µs = ${(value / of).toFixed(2)}×`;
  /** The same ratio round by round: the rows of one round ran within a minute or two of each other, under the same load. */
  const perRound = (row: string, of: string, measure: (round: Measured) => number | null): string => {
    const a = roundsOf.get(row) ?? [];
    const b = roundsOf.get(of) ?? [];
    const ratios = a.flatMap((round, i) => {
      const [x, y] = [measure(round), b[i] === undefined ? null : measure(b[i])];
      return x === null || y === null ? [] : [x / y];
    });
    return ratios.length === 0 ? '' : `; round by round ${ratios.map((r) => r.toFixed(2)).join(', ')} (median ${median(ratios).toFixed(2)}×)`;
  };
  const cpu = (round: Measured) => round.cpuMicrosPerRequest;
  const rps = (round: Measured) => round.wrk.requestsPerSecond;
  const line = (what: string, value: number | null | undefined, of: number | null | undefined, bound: '≤' | '≥', target: number, unit: string, rounds: string): string => {
    if (value == null || of == null) return `- ${what}: not measured.`;
    const ratio = value / of;
    const met = bound === '≤' ? ratio <= target : ratio >= target;
    return `- ${what}: ${value.toFixed(0)} vs ${of.toFixed(0)} ${unit} = ${ratio.toFixed(2)}× (target ${bound} ${target}×) — ${met ? 'met' : 'MISSED'}${rounds}.`;
  };
  return [
    'Targets (issue 13, item 4), from the medians (each round\'s own ratio beside, for the spread):',
    line(`Portcullis pass-through CPU per request vs ${FORWARDER}`, passThrough?.cpuMicrosPerRequest, forwarder?.cpuMicrosPerRequest, '≤', 1.3, 'µs', perRound(PASS_THROUGH, FORWARDER, cpu)),
    line(`Portcullis pass-through req/s vs ${FORWARDER}`, passThrough?.requestsPerSecond, forwarder?.requestsPerSecond, '≥', 0.75, 'req/s', perRound(PASS_THROUGH, FORWARDER, rps)),
    line('bearer (cache hit) CPU per request vs pass-through', cached?.cpuMicrosPerRequest, passThrough?.cpuMicrosPerRequest, '≤', 1.1, 'µs', perRound(BEARER_CACHE_HIT, PASS_THROUGH, cpu)),
    '',
    `Not a target, to read the last one: bearer (cache hit) CPU per request vs pass-through with the same token sent and not checked (the checking ` +
      `alone, apart from carrying 850 more bytes up and 1.7 KB more down): ${ratioOf(cached?.cpuMicrosPerRequest, tokenSent?.cpuMicrosPerRequest)}.`,
  ].join('\n');
}

function report(outcomes: readonly Outcome[], settings: Settings, load: readonly number[]): string {
  const rows = summaries(outcomes);
  const nginx = rows.get(BASELINE);
  const forwarder = rows.get(FORWARDER);
  const ratio = (value: number | null, of: number | null | undefined): string => (value === null || of == null ? '—' : `${(value / of).toFixed(2)}×`);
  const thousands = (n: number): string => Math.round(n).toLocaleString('en-US');
  const micros = (n: number | null): string => (n === null ? '—' : n.toFixed(0));
  const cell = (text: string): string => text.replace(/\s+/g, ' ').replaceAll('|', '\\|').slice(0, 300);
  const wrkVersion = commandOutput('wrk', ['-v']).split('\n')[0]?.replace(/ \[.*$/, '') ?? 'wrk';
  const versions = outcomes.flatMap((outcome) => ('version' in outcome && outcome.version !== undefined ? [outcome.version] : []));

  const lines = outcomes.map((outcome) => {
    if ('absent' in outcome) return `| ${outcome.row.name} | absent: ${cell(outcome.absent)} | | | | | | | | | |`;
    const summary = rows.get(outcome.row.name);
    if (summary === undefined) return `| ${outcome.row.name} | not measured | | | | | | | | | |`;
    return (
      `| ${outcome.row.name}${summary.errors ? ` (${summary.errors} errors)` : ''} | ${thousands(summary.requestsPerSecond)} | ` +
      `${outcome.rounds.map((r) => thousands(r.wrk.requestsPerSecond)).join(', ')} | ${summary.p50Ms.toFixed(2)} | ${summary.p99Ms.toFixed(2)} | ` +
      `${micros(summary.cpuMicrosPerRequest)} | ${micros(summary.systemMicrosPerRequest)} | ${outcome.rounds.map((r) => micros(r.cpuMicrosPerRequest)).join(', ')} | ` +
      `${ratio(summary.requestsPerSecond, nginx?.requestsPerSecond)} | ${ratio(summary.cpuMicrosPerRequest, forwarder?.cpuMicrosPerRequest)} | ${micros(summary.rssMiB)} |`
    );
  });

  return [
    `Measured ${new Date().toISOString().slice(0, 10)} on Node.js ${process.version}, ${[...versions, wrkVersion].join(', ')}; ${machineSummary()}; ` +
      `load average ${load.map((l) => l.toFixed(1)).join(' → ')} (before → after).`,
    `wrk: ${WRK.threads} thread, ${WRK.connections} connections, ${settings.durationS} s a run, ${settings.rounds} rounds interleaved, ` +
      `\`GET ${settings.path}\` on loopback; the echo upstream answers a JSON description of the request: about 0.3 KB, or 2 KB when the request ` +
      'carries the token (850 bytes, a Cognito-shaped machine access token, the same for every row that sends one), which the echo repeats twice. ' +
      'Figures are the median of the rounds (every round listed). CPU µs/req: user + system CPU time of the ' +
      "row's own process tree during the run (from /proc; not wrk's, not the upstream's — the \"upstream, direct\" row is the upstream's own) " +
      `divided by the requests served; "of which system": the kernel's part (sockets). Ratios: req/s vs ${BASELINE}; CPU vs ${FORWARDER} (the Node.js ceiling). ` +
      "RSS: the row's process tree right after each run (median).",
    'Peers: nginx with one worker, no access log; Apache with the event MPM, one child process of 64 threads, no access log, verifying ' +
      'every token against the JWKS (over HTTPS, private CA) and checking iss, token_use, client_id and scope; oauth2-proxy with ' +
      '--skip-jwt-bearer-tokens --oidc-audience-claim=client_id --force-json-errors, request log on, checking neither token_use nor scope. ' +
      'Portcullis keeps its access log on; "semi-space N MiB" rows run the bin under `node --max-semi-space-size=N`.',
    '',
    '| row | req/s | every round | p50 ms | p99 ms | CPU µs/req | of which system | every round | req/s vs nginx | CPU vs forwarder | RSS MiB |',
    '|---|---:|---|---:|---:|---:|---:|---|---:|---:|---:|',
    ...lines,
  ].join('\n');
}

await main();
const settings = parseArgs(process.argv.slice(2));
if (settings.only === null) {
  const h2 = await runH2Bench({ durationS: settings.durationS, rounds: settings.rounds });
  console.log(`\n${h2}`);
  writeResultsSection(H2_RESULTS_HEADING, h2);
}
