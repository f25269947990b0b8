// npm run bench:uploads [-- --uploads 10 --mib 100]
//
// The memory side of choosing V8's young generation for Portcullis: RSS growth of
// `portcullis standalone` (pass-through) while 10 clients upload 100 MiB each at once through it
// to the echo upstream, under each semi-space size of rows.ts. (`npm run bench` measures the
// CPU and req/s side.) Each body is streamed by the client with backpressure; the echo upstream
// hashes it without keeping it. Writes bench/RESULTS.md's "Proxy uploads" section.
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { spawnEchoServer } from '../../test/support/echo-server.ts';
import { writeResultsSection } from '../results.ts';
import { createCpuClock } from './cpu.ts';
import { shebangNodeFlags, startPortcullis } from './portcullis.ts';
import { SEMI_SPACE_MIB } from './rows.ts';

const CHUNK = Buffer.alloc(64 * 1024, 'portcullis-upload-');

function parseArgs(argv: readonly string[]): { uploads: number; mib: number } {
  const value = (name: string, fallback: string): number => {
    const i = argv.indexOf(name);
    return Number(i === -1 ? fallback : argv[i + 1]);
  };
  const uploads = value('--uploads', '10');
  const mib = value('--mib', '100');
  if (!Number.isInteger(uploads) || uploads < 1 || uploads > 50) throw new TypeError('--uploads must be 1 to 50.');
  if (!Number.isInteger(mib) || mib < 1 || mib > 1024) throw new TypeError('--mib must be 1 to 1024.');
  return { uploads, mib };
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
  const { uploads, mib } = parseArgs(process.argv.slice(2));
  const loadBefore = loadavg()[0] ?? 0;
  const cpu = createCpuClock();
  const echo = await spawnEchoServer();
  const lines: string[] = [];
  try {
    for (const semiSpace of SEMI_SPACE_MIB) {
      const portcullis = await startPortcullis(echo.url, { nodeFlags: [`--max-semi-space-size=${semiSpace}`] });
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
          `| ${semiSpace} MiB | ${before.toFixed(0)} | ${peak.toFixed(0)} | ${(peak - before).toFixed(0)} | ${seconds.toFixed(1)} | ` +
          `${((uploads * mib) / seconds).toFixed(0)} | ${cpuSeconds.toFixed(1)} | ${failed} |`;
        console.log(line);
        lines.push(line);
      } finally {
        await portcullis.stop();
      }
    }
  } finally {
    await echo.stop();
  }
  const flags = shebangNodeFlags().join(' ') || 'none';
  writeResultsSection(
    'Proxy uploads (npm run bench:uploads)',
    [
      `Measured ${new Date().toISOString().slice(0, 10)} on Node.js ${process.version}; load average ${loadBefore.toFixed(1)} → ${(loadavg()[0] ?? 0).toFixed(1)} (before → after).`,
      `${uploads} clients each POST ${mib} MiB at once through \`portcullis standalone\` (pass-through; the bin's shebang flags ${flags}, then ` +
        '`--max-semi-space-size=N`) to the echo upstream, which hashes and drops the bodies. RSS of the Portcullis process from /proc, sampled ' +
        'every 10 ms; CPU: its process tree, user + system.',
      '',
      '| semi-space | RSS before MiB | RSS peak MiB | growth MiB | seconds | MiB/s | CPU s | uploads not answered 200 |',
      '|---|---:|---:|---:|---:|---:|---:|---:|',
      ...lines,
    ].join('\n'),
  );
}

await main();
