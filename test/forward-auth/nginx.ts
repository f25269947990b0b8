// Debian's nginx (built with auth_request) in front of an upstream, with Portcullis as its auth
// service, configured with the very block docs/forward-auth.md shows: read from the page, with
// only its three addresses changed, so the documentation cannot drift from what is tested.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/cli.ts';
import { nginxConfig } from '../support/nginx-config.ts';

export const NGINX = '/usr/sbin/nginx';
const DOC = join(REPO_ROOT, 'docs/forward-auth.md');

/** The addresses of the documented block, as the page writes them. */
const DOCUMENTED = { auth: 'server 127.0.0.1:8082;', app: 'server 127.0.0.1:9081;', listen: 'listen 127.0.0.1:8080;' };

/** The nginx block of docs/forward-auth.md, between its markers. */
export function documentedServerBlock(): string {
  const text = readFileSync(DOC, 'utf8');
  const found = /<!-- forward-auth-nginx:start -->\n```nginx\n([\s\S]*?)```\n<!-- forward-auth-nginx:end -->/.exec(text);
  if (found === null) throw new Error('docs/forward-auth.md has no nginx block between its markers.');
  return found[1]!;
}

export interface RunningNginx {
  readonly url: string;
  readonly child: ChildProcess;
  /** nginx's error log so far. */
  errors(): string;
  stop(): Promise<void>;
}

/** nginx on 127.0.0.1:`port`, the documented block pointing at `authListener` and `upstream` (host:port each). */
export async function startNginx(options: { port: number; authListener: string; upstream: string }): Promise<RunningNginx> {
  let block = documentedServerBlock();
  const replacements: [string, string][] = [
    [DOCUMENTED.auth, `server ${options.authListener};`],
    [DOCUMENTED.app, `server ${options.upstream};`],
    [DOCUMENTED.listen, `listen 127.0.0.1:${options.port};`],
  ];
  for (const [from, to] of replacements) {
    if (block.split(from).length !== 2) throw new Error(`The documented nginx block must hold ${JSON.stringify(from)} exactly once.`);
    block = block.replace(from, to);
  }
  const prefix = mkdtempSync(join(tmpdir(), 'portcullis-forward-auth-nginx-'));
  const config = nginxConfig(prefix, block, 256);
  writeFileSync(join(prefix, 'nginx.conf'), config);
  const child = spawn(NGINX, ['-p', prefix, '-c', join(prefix, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const errors = () => `${stderr}${existsSync(join(prefix, 'error.log')) ? readFileSync(join(prefix, 'error.log'), 'utf8') : ''}`;
  await untilListening(options.port, child, errors);
  return {
    url: `http://127.0.0.1:${options.port}`,
    child,
    errors,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM'); // nginx's fast shutdown
        await exited;
      }
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

async function untilListening(port: number, child: ChildProcess, errors: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${errors()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nginx did not listen on 127.0.0.1:${port}: ${errors()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
