// What CEL authorization rules cost (npm run bench:rules). Two measures:
// 1. In this process: authorize() of the same claims against a policy without rules and the same
//    policy with 4 rules, compiled as compile() compiles them: nanoseconds per call.
// 2. End to end: one Portcullis process (the real CLI) serving two routes of the same bearer
//    policy, one without rules and one with the same 4, a signature-cache hit on every request;
//    wrk against each in turn, interleaved rounds, CPU per request from /proc. Target: the rules
//    cost at most 10% more CPU per request.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { authorize } from '../src/auth/authorize.ts';
import type { RuleSubject } from '../src/auth/rules.ts';
import { compileRules } from '../src/compile/rules.ts';
import { startCognitoMint } from '../src/demo/cognito-mint.ts';
import type { AuthPolicy } from '../src/model/policy.ts';
import { spawnEchoServer } from '../test/support/echo-server.ts';
import { createCpuClock } from './proxy/cpu.ts';
import { listeningURL } from './proxy/portcullis.ts';
import { stopChild } from './proxy/processes.ts';
import { ensureCommands, machineSummary } from './proxy/tools.ts';
import { runWrk } from './proxy/wrk.ts';
import { writeResultsSection } from './results.ts';

const CLI = fileURLToPath(new URL('../bin/portcullis.js', import.meta.url));
const READ = 'default-m2m-resource-server/read';
const RULES = [
  { name: 'read-only-unless-admin', cel: "'admins' in auth.groups || request.method == 'GET'" },
  { name: 'admin-paths', cel: "request.path.startsWith('/admin') ? 'admins' in auth.groups : true" },
  { name: 'bearer-read', cel: `auth.kind == 'bearer' && '${READ}' in auth.scopes` },
  { name: 'known-client', cel: "claims.client_id.matches('^[a-z0-9]+$')" },
] as const;
const ROUNDS = 12;
const DURATION_S = 3;
const WRK = { threads: 1, connections: 32 } as const;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** CPU ns per authorize() call, without rules and with the 4, on a Cognito machine token's claims. */
function inProcess(claims: Readonly<Record<string, unknown>>): { plain: number; rules: number } {
  const errors: string[] = [];
  const rules = compileRules(RULES, (field, message) => errors.push(`${field}: ${message}`));
  if (errors.length > 0) throw new Error(errors.join(' '));
  const base = { authorization: { requiredScopes: [READ], groups: [], claims: [], rules: [] } } as unknown as AuthPolicy;
  const withRules = { authorization: { ...base.authorization, rules } } as unknown as AuthPolicy;
  const subject: RuleSubject = {
    kind: 'bearer',
    request: { method: 'GET', headers: { host: 'api.example.com', accept: '*/*', 'user-agent': 'wrk' }, authorizationCount: 1 },
    context: { requestId: 'bench', scheme: 'http', host: 'api.example.com', hostname: 'api.example.com', route: 'default/bench', path: '/anything', query: '', upgrade: false },
  };
  const time = (policy: AuthPolicy): number => {
    const calls = 200_000;
    for (let i = 0; i < 20_000; i++) authorize(claims, policy, subject);
    // CPU time, not wall time: on a shared machine the latter counts other processes' turns.
    const started = process.cpuUsage();
    for (let i = 0; i < calls; i++) authorize(claims, policy, subject);
    const used = process.cpuUsage(started);
    return ((used.user + used.system) * 1000) / calls;
  };
  const plain: number[] = [];
  const ruled: number[] = [];
  for (let round = 0; round < 5; round++) {
    plain.push(time(base));
    ruled.push(time(withRules));
  }
  return { plain: median(plain), rules: median(ruled) };
}

async function main(): Promise<void> {
  ensureCommands({ wrk: 'wrk' });
  const loadBefore = loadavg()[0] ?? 0;
  const mint = await startCognitoMint({ lifetime: 24 * 3600 });
  const token = mint.mint({}, { kind: 'machine' });
  const micro = inProcess(mint.claims('machine'));
  console.log(`in process: authorize() ${micro.plain.toFixed(0)} ns without rules, ${micro.rules.toFixed(0)} ns with 4`);

  const echo = await spawnEchoServer();
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-rules-'));
  const policy = (name: string, rules: string) => `apiVersion: portcullis.dev/v1alpha1
kind: OIDCPolicy
metadata: {name: ${name}}
spec:
  issuer: "${mint.issuer}"
  provider: Cognito
  clientID: "${mint.clientIds.machine}"
  bearer: {}
  authorization:
    requiredScopes: [${READ}]
${rules}
---
`;
  writeFileSync(
    join(dir, 'bench.yaml'),
    policy('plain', '') +
      policy('ruled', `    rules:\n${RULES.map((rule) => `      - {name: ${rule.name}, cel: ${JSON.stringify(rule.cel)}}`).join('\n')}`) +
      `apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: bench}
spec:
  rules:
    - {matches: [{path: {value: /plain}}], policyRef: {name: plain}, backends: [{url: "${echo.url}"}]}
    - {matches: [{path: {value: /ruled}}], policyRef: {name: ruled}, backends: [{url: "${echo.url}"}]}
    - {matches: [{path: {value: /again}}], policyRef: {name: plain}, backends: [{url: "${echo.url}"}]}
`,
  );
  const child = spawn(CLI, ['standalone', '-f', dir, '--listen', '127.0.0.1:0', '--ops-listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const cpu = createCpuClock();
  try {
    const url = await listeningURL(child, 'proxy');
    const headers = { authorization: `Bearer ${token}` };
    // Both routes must answer 200 (the provider fetched, the rules passing) before anything is measured.
    for (const path of ['/plain/anything', '/ruled/anything', '/again/anything']) {
      for (let status = 0; status !== 200; ) {
        const response = await fetch(`${url}${path}`, { headers });
        await response.arrayBuffer();
        status = response.status;
        if (status !== 200 && status !== 503) throw new Error(`${path} answered ${status}`);
        if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    // `again` is the rule-less route once more: how far two identical routes differ here is the noise.
    const rows = { plain: [] as { rps: number; cpu: number }[], ruled: [] as { rps: number; cpu: number }[], again: [] as { rps: number; cpu: number }[] };
    for (const path of ['plain', 'ruled', 'again'] as const) await runWrk(`${url}/${path}/anything`, { ...WRK, durationS: 1, headers });
    for (let round = 1; round <= ROUNDS; round++) {
      // Each route takes each place in the order in turn, so that none always runs on the warmer or the busier machine.
      const order = (['plain', 'ruled', 'again'] as const).map((_, i, all) => all[(i + round) % all.length]!);
      for (const path of order) {
        const before = cpu.treeMicros(child.pid!);
        const wrk = await runWrk(`${url}/${path}/anything`, { ...WRK, durationS: DURATION_S, headers });
        const micros = (cpu.treeMicros(child.pid!) - before) / wrk.requests;
        if (wrk.errors > 0) throw new Error(`${path}: ${wrk.errors} errors`);
        rows[path].push({ rps: wrk.requestsPerSecond, cpu: micros });
        console.log(`round ${round}  ${path.padEnd(6)} ${wrk.requestsPerSecond.toFixed(0).padStart(6)} req/s  ${micros.toFixed(0).padStart(4)} µs CPU/req`);
      }
    }
    const cpuPlain = median(rows.plain.map((r) => r.cpu));
    const cpuRuled = median(rows.ruled.map((r) => r.cpu));
    const ratios = rows.plain.map((r, i) => rows.ruled[i]!.cpu / r.cpu);
    const ratio = cpuRuled / cpuPlain;
    const noise = median(rows.again.map((r) => r.cpu)) / cpuPlain;
    const noiseRatios = rows.plain.map((r, i) => rows.again[i]!.cpu / r.cpu);
    const medianRatio = median(ratios);
    const line = (name: string, list: { rps: number; cpu: number }[]) =>
      `| ${name} | ${median(list.map((r) => r.rps)).toFixed(0)} | ${median(list.map((r) => r.cpu)).toFixed(0)} | ${list.map((r) => r.cpu.toFixed(0)).join(', ')} |`;
    const body = [
      `Measured ${new Date().toISOString().slice(0, 10)} on Node.js ${process.version}; ${machineSummary()}; load average ${loadBefore.toFixed(1)} → ${(loadavg()[0] ?? 0).toFixed(1)}.`,
      `One Portcullis process, two routes of the same bearer policy (requiredScopes, a Cognito-shaped machine token, signature-cache hit), one with these 4 rules: ${RULES.map((rule) => `\`${rule.cel}\``).join('; ')}.`,
      `wrk: ${WRK.threads} thread, ${WRK.connections} connections, ${DURATION_S} s a run, ${ROUNDS} rounds interleaved (the order rotating), \`GET /<route>/anything\`; CPU µs/req is the Portcullis process's user + system time over the requests served.`,
      '',
      '| route | req/s | CPU µs/req | every round |',
      '|---|---:|---:|---|',
      line('bearer, no rules', rows.plain),
      line('bearer, 4 rules', rows.ruled),
      line('bearer, no rules (again: the noise)', rows.again),
      '',
      `In process, CPU time of authorize() on the same claims: ${micro.plain.toFixed(0)} ns without rules, ${micro.rules.toFixed(0)} ns with the 4 rules (+${((micro.rules - micro.plain) / 1000).toFixed(1)} µs a request).`,
      '',
      `Noise: the same rule-less route twice differs by ${noise.toFixed(2)}× (round by round: ${noiseRatios.map((r) => `${r.toFixed(2)}×`).join(', ')}).`,
      '',
      `Target: 4 rules cost at most 10% more CPU per request: ${cpuRuled.toFixed(0)} vs ${cpuPlain.toFixed(0)} µs = ${ratio.toFixed(2)}× (round by round: ${ratios.map((r) => `${r.toFixed(2)}×`).join(', ')}; their median ${medianRatio.toFixed(2)}×) — ${ratio <= 1.1 ? 'met' : 'MISSED'}.`,
    ].join('\n');
    console.log(`\n${body}`);
    writeResultsSection('Authorization rules (npm run bench:rules)', body);
  } finally {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
    await echo.stop();
    await mint.close();
  }
}

await main();
