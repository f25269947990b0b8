// npm run bench [-- --duration 5 --rounds 3 --path /anything]
//
// Forwarding speed on loopback: wrk (1 thread, 32 connections, --latency) against the echo
// upstream directly and through each row of rows.ts, every row measured in every round
// (rounds interleave the rows, so drift hits all of them alike). Prints a table and writes
// it to bench/RESULTS.md under "Proxy".
import { loadavg } from 'node:os';
import { spawnEchoServer } from '../../test/support/echo-server.ts';
import { writeResultsSection } from '../results.ts';
import { nginxVersion } from './nginx.ts';
import type { Running } from './processes.ts';
import { BASELINE, closeSharedMint, ROWS, type BenchRow } from './rows.ts';
import { commandOutput, ensureCommands, machineSummary } from './tools.ts';
import { runWrk, type WrkOptions, type WrkResult } from './wrk.ts';

interface Settings {
  readonly durationS: number;
  readonly rounds: number;
  readonly path: string;
}

function parseArgs(argv: readonly string[]): Settings {
  const value = (name: string, fallback: string): string => {
    const i = argv.indexOf(name);
    return i === -1 ? fallback : (argv[i + 1] ?? fallback);
  };
  const durationS = Number(value('--duration', '5'));
  const rounds = Number(value('--rounds', '3'));
  const path = value('--path', '/anything');
  if (!(durationS >= 5 && durationS <= 10)) throw new TypeError('--duration must be 5 to 10 seconds');
  if (!Number.isInteger(rounds) || rounds < 2 || rounds > 5) throw new TypeError('--rounds must be 2 to 5');
  if (!path.startsWith('/')) throw new TypeError('--path must start with "/"');
  return { durationS, rounds, path };
}

const WRK: Omit<WrkOptions, 'durationS'> = { threads: 1, connections: 32 };

async function main(): Promise<void> {
  const settings = parseArgs(process.argv.slice(2));
  ensureCommands({ wrk: 'wrk', nginx: 'nginx' });

  const loadBefore = loadavg()[0] ?? 0;
  const echo = await spawnEchoServer();
  const started: { row: BenchRow; running: Running }[] = [];
  try {
    for (const row of ROWS) {
      const running = await row.start(echo.url);
      started.push({ row, running });
      const check = await fetch(running.url + settings.path, { headers: running.headers });
      await check.arrayBuffer();
      if (check.status !== 200) throw new Error(`${row.name} answered ${check.status} on ${settings.path}`);
    }

    for (const { running } of started) await runWrk(running.url + settings.path, { ...WRK, durationS: 1, headers: running.headers }); // warm-up
    const results = new Map<string, WrkResult[]>(ROWS.map((row) => [row.name, []]));
    for (let round = 1; round <= settings.rounds; round++) {
      for (const { row, running } of started) {
        const result = await runWrk(running.url + settings.path, { ...WRK, durationS: settings.durationS, headers: running.headers });
        results.get(row.name)?.push(result);
        console.log(`round ${round}  ${row.name.padEnd(32)} ${result.requestsPerSecond.toFixed(0).padStart(7)} req/s  p50 ${result.p50Ms.toFixed(2)} ms  p99 ${result.p99Ms.toFixed(2)} ms${result.errors ? `  ${result.errors} errors` : ''}`);
      }
    }

    const table = `${report(results, settings, [loadBefore, loadavg()[0] ?? 0])}\n\n${targets(results)}`;
    console.log(`\n${table}`);
    writeResultsSection('Proxy (npm run bench)', table);
  } finally {
    for (const { running } of started.reverse()) await running.stop().catch((error: unknown) => console.error(error));
    await echo.stop();
    await closeSharedMint();
  }
}

/** The issues' targets, each said met or MISSED. */
function targets(results: ReadonlyMap<string, readonly WrkResult[]>): string {
  const best = (name: string) => Math.max(0, ...(results.get(name) ?? []).map((r) => r.requestsPerSecond));
  const nginx = best(BASELINE);
  const passThrough = best('portcullis, pass-through');
  const cached = best('portcullis, bearer (cache hit)');
  const line = (what: string, value: number, target: number) => `- ${what}: ${value.toFixed(2)}× (target ≥ ${target}×) — ${value >= target ? 'met' : 'MISSED'}`;
  return [
    'Targets:',
    line('Portcullis pass-through vs nginx', passThrough / nginx, 0.5),
    line('bearer (cache hit) vs Portcullis pass-through', cached / passThrough, 0.85),
    line('bearer (cache hit) vs nginx', cached / nginx, 0.45),
  ].join('\n');
}

function report(results: ReadonlyMap<string, readonly WrkResult[]>, settings: Settings, load: readonly number[]): string {
  // Other work on the machine only ever slows a run down: each row's best round is its figure.
  const summary = [...results].map(([name, runs]) => {
    const best = runs.reduce((a, b) => (b.requestsPerSecond > a.requestsPerSecond ? b : a));
    return { name, runs, best, errors: runs.reduce((sum, r) => sum + r.errors, 0) };
  });
  const base = summary.find((row) => row.name === BASELINE)?.best;
  const ratio = (value: number, of: number | undefined): string => (of === undefined ? '—' : `${(value / of).toFixed(2)}×`);
  const thousands = (n: number): string => Math.round(n).toLocaleString('en-US');
  const wrkVersion = commandOutput('wrk', ['-v']).split('\n')[0]?.replace(/ \[.*$/, '') ?? 'wrk';

  return [
    `Measured ${new Date().toISOString().slice(0, 10)} on Node.js ${process.version}, ${nginxVersion()}, ${wrkVersion}; ${machineSummary()}; ` +
      `load average ${load.map((l) => l.toFixed(1)).join(' → ')} (before → after).`,
    `wrk: ${WRK.threads} thread, ${WRK.connections} connections, ${settings.durationS} s a run, ${settings.rounds} rounds interleaved, ` +
      `\`GET ${settings.path}\` (the echo upstream's JSON description of the request, about 200 bytes) on loopback. Each row's figures are from its best round ` +
      '(every round listed); ratios compare with nginx.',
    '',
    '| row | req/s | every round | p50 ms | p99 ms | req/s vs nginx | p50 vs nginx | p99 vs nginx |',
    '|---|---:|---|---:|---:|---:|---:|---:|',
    ...summary.map(({ name, runs, best, errors }) =>
      `| ${name}${errors ? ` (${errors} errors)` : ''} | ${thousands(best.requestsPerSecond)} | ${runs.map((r) => thousands(r.requestsPerSecond)).join(', ')} | ` +
      `${best.p50Ms.toFixed(2)} | ${best.p99Ms.toFixed(2)} | ${ratio(best.requestsPerSecond, base?.requestsPerSecond)} | ` +
      `${ratio(best.p50Ms, base?.p50Ms)} | ${ratio(best.p99Ms, base?.p99Ms)} |`),
  ].join('\n');
}

await main();
