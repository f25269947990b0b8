// npm run bench:uploads [-- --uploads 10 --mib 100 --only <text>[,<text>…]]
//
// The memory side of choosing V8's young generation for Portcullis: RSS growth of
// `portcullis standalone` (pass-through) while 10 clients upload 100 MiB each at once through it
// to the echo upstream, as shipped and under other young-generation settings (VARIANTS).
// (`npm run bench` measures the CPU and req/s side.) Each body is streamed by the client with
// backpressure; the echo upstream hashes it without keeping it. Writes bench/RESULTS.md's
// "Proxy uploads" section (unless --only picks some variants).
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { spawnEchoServer } from '../../test/support/echo-server.ts';
import { writeResultsSection } from '../results.ts';
import { createCpuClock } from './cpu.ts';
import { shebangNodeFlags, startPortcullis } from './portcullis.ts';

/** V8's flag for the young ArrayBuffer bytes that start a scavenge (4 × its value, in MiB); the bin sets 2, V8's default is 32. */
const TRIGGER = '--scavenger-max-new-space-capacity-mb';

/** Each runs the bin under this Node.js with the shebang's flags, then these (a later flag wins; the bin leaves a trigger given here alone). */
const VARIANTS: readonly { readonly name: string; readonly flags: readonly string[] }[] = [
  { name: 'as shipped: semi-space 16 MiB, ArrayBuffer trigger 8 MiB', flags: [] },
  { name: 'semi-space 1 MiB, V8\'s ArrayBuffer trigger (128 MiB)', flags: ['--max-semi-space-size=1', `${TRIGGER}=32`] },
  { name: 'semi-space 16 MiB, V8\'s ArrayBuffer trigger (128 MiB)', flags: [`${TRIGGER}=32`] },
  { name: 'semi-space 16 MiB, ArrayBuffer trigger 4 MiB', flags: [`${TRIGGER}=1`] },
  { name: 'semi-space 8 MiB, ArrayBuffer trigger 8 MiB', flags: ['--max-semi-space-size=8'] },
  { name: 'semi-space 32 MiB, ArrayBuffer trigger 8 MiB', flags: ['--max-semi-space-size=32'] },
  { name: 'semi-space 64 MiB, ArrayBuffer trigger 8 MiB', flags: ['--max-semi-space-size=64'] },
];

const CHUNK = Buffer.alloc(64 * 1024, 'portcullis-upload-');

function parseArgs(argv: readonly string[]): { uploads: number; mib: number; only: readonly string[] | null } {
  const value = (name: string, fallback: string): string => {
    const i = argv.indexOf(name);
    return i === -1 ? fallback : (argv[i + 1] ?? fallback);
  };
  const uploads = Number(value('--uploads', '10'));
  const mib = Number(value('--mib', '100'));
  const only = value('--only', '');
  if (!Number.isInteger(uploads) || uploads < 1 || uploads > 50) throw new TypeError('--uploads must be 1 to 50.');
  if (!Number.isInteger(mib) || mib < 1 || mib > 1024) throw new TypeError('--mib must be 1 to 1024.');
  return { uploads, mib, only: only === '' ? null : only.toLowerCase().split(',') };
}

/** Resident set size of a process, in MiB. */
function rssMiB(pid: number): number {
  const kib = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kib ?? 0) / 1024;
}

/** POSTs `mib` MiB in 64 KiB chunks, waiting for the socket to drain; resolves with the status. */
function upload(url: string, mib: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/anything`, { method: 'POST', agent: false, headers: { 'content-type': 'application/octet-stream', 'content-length': mib * 1024 * 1024 } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    let left = mib * 16;
    const write = (): void => {
      while (left > 0) {
        left -= 1;
        if (!req.write(CHUNK)) {
          req.once('drain', write);
          return;
        }
      }
      req.end();
    };
    write();
  });
}

async function main(): Promise<void> {
  const { uploads, mib, only } = parseArgs(process.argv.slice(2));
  const variants = VARIANTS.filter((variant) => only === null || only.some((text) => variant.name.toLowerCase().includes(text)));
  const loadBefore = loadavg()[0] ?? 0;
  const cpu = createCpuClock();
  const echo = await spawnEchoServer();
  const lines: string[] = [];
  const growths = new Map<string, number>();
  try {
    for (const variant of variants) {
      const portcullis = await startPortcullis(echo.url, { nodeFlags: variant.flags });
      try {
        const pid = portcullis.pid!;
        await upload(portcullis.url, 1); // warm-up: the first body through every layer
        const before = rssMiB(pid);
        let peak = before;
        const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 10);
        const cpuBefore = cpu.treeMicros(pid);
        const started = performance.now();
        const statuses = await Promise.all(Array.from({ length: uploads }, () => upload(portcullis.url, mib)));
        const seconds = (performance.now() - started) / 1000;
        clearInterval(sampler);
        peak = Math.max(peak, rssMiB(pid));
        const cpuSeconds = (cpu.treeMicros(pid) - cpuBefore) / 1e6;
        const failed = statuses.filter((status) => status !== 200).length;
        const line =
          `| ${variant.name} | ${variant.flags.join(' ') || '—'} | ${before.toFixed(0)} | ${peak.toFixed(0)} | ${(peak - before).toFixed(0)} | ${seconds.toFixed(1)} | ` +
          `${((uploads * mib) / seconds).toFixed(0)} | ${cpuSeconds.toFixed(1)} | ${failed} |`;
        console.log(line);
        lines.push(line);
        growths.set(variant.name, peak - before);
      } finally {
        await portcullis.stop();
      }
    }
  } finally {
    await echo.stop();
  }
  const flags = shebangNodeFlags().join(' ') || 'none';
  const shipped = growths.get(VARIANTS[0]!.name);
  const body = [
    `Measured ${new Date().toISOString().slice(0, 10)} on Node.js ${process.version}; load average ${loadBefore.toFixed(1)} → ${(loadavg()[0] ?? 0).toFixed(1)} (before → after).`,
    `${uploads} clients each POST ${mib} MiB at once through \`portcullis standalone\` (pass-through; the bin's shebang flags ${flags}, then ` +
      "the variant's) to the echo upstream, which hashes and drops the bodies. RSS of the Portcullis process from /proc, sampled " +
      `every 10 ms; CPU: its process tree, user + system. \`${TRIGGER}=N\` starts a scavenge once 4 × N MiB of ArrayBuffers (request body chunks) ` +
      'were made since the last one; the bin sets 2 unless its command line sets it.',
    '',
    '| young generation | flags after the shebang\'s | RSS before MiB | RSS peak MiB | growth MiB | seconds | MiB/s | CPU s | uploads not answered 200 |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
    ...lines,
    '',
    shipped === undefined
      ? 'Target (issue 13, item 4): not measured (the shipped variant did not run).'
      : `Target (issue 13, item 4): ${uploads} concurrent ${mib} MiB uploads grow RSS by under 64 MB (61.0 MiB), as shipped — ${shipped * 2 ** 20 < 64e6 ? 'met' : 'MISSED'} (${shipped.toFixed(0)} MiB).`,
  ].join('\n');
  console.log(`\n${body}`);
  if (only === null) writeResultsSection('Proxy uploads (npm run bench:uploads)', body);
  else console.log('\n(--only: bench/RESULTS.md left as it was.)');
}

await main();
