// nginx as the baseline: one worker, keep-alive to the upstream, no access log, loopback only.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nginxConfig } from '../../test/support/nginx-config.ts';
import { freePort, stopChild, waitForPort, type Running } from './processes.ts';

export async function startNginx(upstream: string): Promise<Running> {
  const { hostname, port: upstreamPort } = new URL(upstream);
  const port = await freePort();
  const prefix = mkdtempSync(join(tmpdir(), 'portcullis-bench-nginx-'));
  const config = nginxConfig(
    prefix,
    `  keepalive_requests 1000000;
  upstream echo {
    server ${hostname}:${upstreamPort};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://echo;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
    }
  }`,
  );
  writeFileSync(join(prefix, 'nginx.conf'), config);
  const child = spawn('nginx', ['-p', prefix, '-c', join(prefix, 'nginx.conf')], { stdio: ['ignore', 'inherit', 'inherit'] });
  try {
    await waitForPort(port);
  } catch (error) {
    const log = join(prefix, 'error.log');
    throw new Error(`nginx did not start${existsSync(log) ? `: ${readFileSync(log, 'utf8')}` : ''}`, { cause: error });
  }
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid,
    version: nginxVersion(),
    stop: async () => {
      // SIGQUIT would wait for keep-alive clients; SIGTERM is nginx's fast shutdown.
      await stopChild(child);
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

export function nginxVersion(): string {
  // nginx -v answers on stderr: "nginx version: nginx/1.22.1"
  return spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.replace(/^nginx version: /, '').trim();
}
