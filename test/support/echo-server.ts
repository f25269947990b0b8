// The httpbin-like upstream of tests and benchmarks lives with the demo, which ships it:
// src/demo/echo-upstream.ts. This file keeps the tests' import path and command line
// (`node test/support/echo-server.ts --port N`).
import { fileURLToPath } from 'node:url';
import { runEchoServerCli } from '../../src/demo/echo-upstream.ts';

export * from '../../src/demo/echo-upstream.ts';

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runEchoServerCli(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
