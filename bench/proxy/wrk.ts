// Running wrk and reading its report (`--latency` adds the percentile lines).
import { execFile } from 'node:child_process';

export interface WrkOptions {
  readonly durationS: number;
  readonly connections: number;
  readonly threads: number;
  /** Request headers, e.g. an Authorization header. */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface WrkResult {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly requests: number;
  /** Non-2xx/3xx responses plus socket errors: a run with any is not a valid figure. */
  readonly errors: number;
}

export function runWrk(url: string, options: WrkOptions): Promise<WrkResult> {
  const headers = Object.entries(options.headers ?? {}).flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
  const args = ['-t', String(options.threads), '-c', String(options.connections), '-d', `${options.durationS}s`, '--latency', ...headers, url];
  return new Promise((resolve, reject) => {
    execFile('wrk', args, { timeout: (options.durationS + 30) * 1000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`wrk ${args.join(' ')} failed: ${error.message}\n${stderr}`));
      else resolve(parseWrk(stdout));
    });
  });
}

export function parseWrk(report: string): WrkResult {
  const number = (pattern: RegExp): number => {
    const match = pattern.exec(report);
    if (match === null) throw new Error(`wrk report without ${pattern}:\n${report}`);
    return Number(match[1]);
  };
  const latency = (percent: string): number => {
    const match = new RegExp(`^\\s*${percent}%\\s+([0-9.]+)(us|ms|s)\\s*$`, 'm').exec(report);
    if (match === null) throw new Error(`wrk report without the ${percent}% latency:\n${report}`);
    const value = Number(match[1]);
    return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value;
  };
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(report);
  const nonOk = /Non-2xx or 3xx responses: (\d+)/.exec(report);
  return {
    requestsPerSecond: number(/^Requests\/sec:\s+([0-9.]+)/m),
    p50Ms: latency('50'),
    p99Ms: latency('99'),
    requests: number(/^\s*(\d+) requests in /m),
    errors: (socketErrors === null ? 0 : socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0)) + (nonOk === null ? 0 : Number(nonOk[1])),
  };
}
