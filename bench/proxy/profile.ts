// npm run bench:profile [-- --duration 15]
//
// Where Portcullis's CPU goes under load: `portcullis standalone` under V8's sampling profiler
// (--cpu-prof) while wrk drives it, for the pass-through and bearer (cache hit) rows of
// `npm run bench`, and the bare node:http + undici Forwarder row beside them (the Node.js
// ceiling). Only the samples taken while wrk ran count. Prints, and writes to bench/RESULTS.md
// under "Proxy profile", for each row: self time by function (top 25), by file or package, and
// by the nearest caller of ours, per request and as a share; and the main thread's GC share.
// The .cpuprofile files stay in a temporary directory (printed) for Chrome DevTools.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { startCognitoMint } from '../../src/demo/cognito-mint.ts';
import { spawnEchoServer } from '../../test/support/echo-server.ts';
import { writeResultsSection } from '../results.ts';
import { createCpuClock } from './cpu.ts';
import { shebangNodeFlags, startPortcullis } from './portcullis.ts';
import { startScript, type Running } from './processes.ts';
import { ensureCommands } from './tools.ts';
import { runWrk } from './wrk.ts';

const REPOSITORY = join(import.meta.dirname, '../..');
const TOP = 25;
const SAMPLING_INTERVAL_US = 250;

/** The parts of a .cpuprofile (Chrome DevTools' format) read here. */
interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
    readonly children?: readonly number[];
  }[];
  readonly startTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

interface Share {
  readonly name: string;
  readonly micros: number;
}

interface ProfileSummary {
  readonly busyMicros: number;
  readonly idleMicros: number;
  readonly functions: readonly Share[];
  readonly files: readonly Share[];
  /** Self time charged to the nearest package or source file of ours on the stack: Node's internals and native code count for their caller. */
  readonly callers: readonly Share[];
  readonly gcMicros: number;
}

function parseArgs(argv: readonly string[]): { durationS: number } {
  const i = argv.indexOf('--duration');
  const durationS = Number(i === -1 ? '15' : argv[i + 1]);
  if (!(durationS >= 5 && durationS <= 60)) throw new TypeError('--duration must be 5 to 60 seconds.');
  return { durationS };
}

async function main(): Promise<void> {
  const { durationS } = parseArgs(process.argv.slice(2));
  ensureCommands({ wrk: 'wrk' });
  const cpu = createCpuClock();
  const echo = await spawnEchoServer();
  const mint = await startCognitoMint({ lifetime: 24 * 3600 });
  const token = mint.mint({}, { kind: 'machine' });
  const profiles = mkdtempSync(join(tmpdir(), 'portcullis-bench-profile-'));
  const sections: string[] = [];
  try {
    const forwarderScript = join(import.meta.dirname, 'node-forwarder.ts');
    const rows: { name: string; headers: Record<string, string>; start(nodeFlags: string[]): Promise<Running> }[] = [
      // The Node.js ceiling, for comparison: what is left when matching, auth and logging are gone.
      { name: 'node:http + undici Forwarder', headers: {}, start: (nodeFlags) => startScript(forwarderScript, [echo.url], nodeFlags) },
      { name: 'pass-through', headers: {}, start: (nodeFlags) => startPortcullis(echo.url, { nodeFlags }) },
      { name: 'bearer (cache hit)', headers: { authorization: `Bearer ${token}` }, start: (nodeFlags) => startPortcullis(echo.url, { bearer: { mint, token }, nodeFlags }) },
    ];
    for (const row of rows) {
      const dir = join(profiles, row.name.replace(/\W+/g, '-'));
      const running = await row.start(['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-interval=${SAMPLING_INTERVAL_US}`]);
      await runWrk(`${running.url}/anything`, { threads: 1, connections: 32, durationS: 2, headers: row.headers }); // warm-up
      const cpuBefore = cpu.tree(running.pid!);
      // V8 stamps samples with the monotonic clock in microseconds, as process.hrtime counts it.
      const from = Number(process.hrtime.bigint() / 1000n);
      const wrk = await runWrk(`${running.url}/anything`, { threads: 1, connections: 32, durationS, headers: row.headers });
      const to = Number(process.hrtime.bigint() / 1000n);
      const cpuAfter = cpu.tree(running.pid!);
      const systemMicros = cpuAfter.systemMicros - cpuBefore.systemMicros;
      const cpuMicros = cpuAfter.userMicros - cpuBefore.userMicros + systemMicros;
      await running.stop(); // the profile is written as the process exits
      const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
      if (file === undefined) throw new Error(`Portcullis wrote no profile into ${dir}.`);
      const summary = summarise(JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile, from, to);
      const section = describe(row.name, summary, { requests: wrk.requests, requestsPerSecond: wrk.requestsPerSecond, cpuMicros, systemMicros, errors: wrk.errors });
      console.log(`\n${section}\n\nprofile: ${join(dir, file)}`);
      sections.push(section);
    }
    const header =
      `Measured ${new Date().toISOString().slice(0, 10)} on Node.js ${process.version}: \`portcullis standalone\` (Node.js flags ${shebangNodeFlags().join(' ') || 'none'} from the bin's shebang, ` +
      `then \`--cpu-prof --cpu-prof-interval=${SAMPLING_INTERVAL_US}\`), and bench/proxy/node-forwarder.ts (V8's defaults, as in \`npm run bench\`), in front of the echo upstream, wrk 1 thread × 32 connections for ${durationS} s after a 2 s warm-up; ` +
      'only samples taken while wrk ran count. Self time is time on the main thread with that function on top of the stack; a native function ' +
      '(a syscall binding such as `writev`) counts its syscall. "(garbage collector)" is the main thread\'s share of GC (V8 also scavenges on ' +
      'helper threads, which the process CPU time includes and the profile does not); "(program)" is native work outside any JavaScript ' +
      'frame (libuv, the HTTP parser\'s callbacks into C++). The profiler samples wall-clock time: on a contended machine a main-thread µs ' +
      'counts time the thread waited for a core, so main-thread µs/request can exceed the process\'s CPU µs/request; compare shares across rows. ' +
      'Profiling itself slows the process down: the req/s here are not the benchmark\'s.';
    writeResultsSection('Proxy profile (npm run bench:profile)', `${header}\n\n${sections.join('\n\n')}`);
  } finally {
    await echo.stop();
    await mint.close();
  }
}

function summarise(profile: CpuProfile, from: number, to: number): ProfileSummary {
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const parents = new Map(profile.nodes.flatMap((node) => (node.children ?? []).map((child) => [child, node.id] as const)));
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  const byCaller = new Map<string, number>();
  const add = (map: Map<string, number>, key: string, micros: number): void => {
    map.set(key, (map.get(key) ?? 0) + micros);
  };
  /** The nearest frame, from the sample's up, in a package or a file of ours (undici's HTTP parser is WebAssembly: undici's). */
  const callerOf = (id: number): string => {
    for (let at: number | undefined = id; at !== undefined; at = parents.get(at)) {
      const url = frames.get(at)?.url ?? '';
      if (url !== '' && !url.startsWith('node:') && !url.startsWith('wasm:')) return sourceOf(url, true);
    }
    return fileOf(frames.get(id)?.url ?? '', frames.get(id)?.functionName ?? '');
  };
  let idleMicros = 0;
  let busyMicros = 0;
  let gcMicros = 0;
  let time = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    time += profile.timeDeltas[i] ?? 0;
    // A sample's delta is the time since the previous one: the time it stands for.
    const micros = profile.timeDeltas[i + 1] ?? 0;
    if (time < from || time > to) continue;
    const id = profile.samples[i]!;
    const frame = frames.get(id);
    if (frame === undefined) continue;
    if (frame.functionName === '(idle)') {
      idleMicros += micros;
      continue;
    }
    busyMicros += micros;
    if (frame.functionName === '(garbage collector)') gcMicros += micros;
    const file = fileOf(frame.url, frame.functionName);
    add(byFunction, `${frame.functionName || '(anonymous)'}${frame.url ? ` ${sourceOf(frame.url, false)}:${frame.lineNumber + 1}` : ''}`, micros);
    add(byFile, file, micros);
    add(byCaller, callerOf(id), micros);
  }
  const ranked = (map: Map<string, number>): Share[] => [...map].map(([name, micros]) => ({ name, micros })).sort((a, b) => b.micros - a.micros);
  return { busyMicros, idleMicros, functions: ranked(byFunction), files: ranked(byFile), callers: ranked(byCaller), gcMicros };
}

/** Where a function's code lives: the package (with `packageOnly` false, the file within it), our file, or Node's module. */
function sourceOf(url: string, packageOnly: boolean): string {
  if (url.startsWith('node:') || url.startsWith('wasm:')) return url;
  const path = url.startsWith('file://') ? new URL(url).pathname : url;
  const inModules = /\/node_modules\/((?:@[^/]+\/)?[^/]+)(\/.*)$/.exec(path);
  if (inModules) return packageOnly ? inModules[1]! : `${inModules[1]!}${inModules[2]!}`;
  return path.startsWith(REPOSITORY) ? relative(REPOSITORY, path) : path;
}

/** A package, a file of ours or Node's module; for code without a file, what V8 calls it. */
function fileOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native bindings: syscalls, string encoding)';
  return sourceOf(url, true);
}

function describe(name: string, summary: ProfileSummary, run: { requests: number; requestsPerSecond: number; cpuMicros: number; systemMicros: number; errors: number }): string {
  const percent = (micros: number): string => `${((100 * micros) / summary.busyMicros).toFixed(1)}%`;
  const table = (title: string, shares: readonly Share[], limit: number): string[] => [
    `| ${title} | self | main-thread µs/request | share of busy |`,
    '|---|---:|---:|---:|',
    ...shares
      .slice(0, limit)
      .map((share) => `| \`${share.name.replaceAll('|', '\\|')}\` | ${(share.micros / 1000).toFixed(0)} ms | ${(share.micros / run.requests).toFixed(1)} | ${percent(share.micros)} |`),
  ];
  return [
    `### ${name}`,
    '',
    `${run.requests.toLocaleString('en-US')} requests (${run.requestsPerSecond.toFixed(0)} req/s under the profiler${run.errors ? `, ${run.errors} errors` : ''}); ` +
      `process CPU ${(run.cpuMicros / run.requests).toFixed(0)} µs per request (system ${(run.systemMicros / run.requests).toFixed(0)}); main thread busy ${(summary.busyMicros / 1000).toFixed(0)} ms, ` +
      `idle ${(summary.idleMicros / 1000).toFixed(0)} ms; garbage collection ${percent(summary.gcMicros)} of busy.`,
    '',
    ...table(`function (top ${TOP})`, summary.functions, TOP),
    '',
    ...table('file or package (top 15)', summary.files, 15),
    '',
    ...table("nearest package or file of ours on the stack, Node's internals and native code charged to it (top 15)", summary.callers, 15),
  ].join('\n');
}

await main();
