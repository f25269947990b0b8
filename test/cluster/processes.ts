// Child processes of the test control plane: logs to files (no pipes to keep jest's event
// loop busy), stopped in order by the harness, and killed by the kernel if this process dies
// first (SIGKILL, an OOM, a jest worker torn down), so no server outlives its test.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { runInThisContext } from 'node:vm';

export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  readonly child: ChildProcess;
  /** True once the process has exited. */
  exited(): boolean;
  /** The last `lines` lines of its log, for error messages. */
  logTail(lines?: number): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs: number): Promise<void>;
}

/**
 * `setpriv --pdeathsig KILL` asks the kernel to kill the server when its parent (this
 * process) dies, however it dies; without util-linux's setpriv, only the exit handlers
 * registered by the harness protect against leftovers.
 */
const PARENT_DEATH_WRAPPER: readonly string[] = spawnSync('setpriv', ['--help'], { stdio: 'ignore' }).status === 0 ? ['setpriv', '--pdeathsig', 'KILL', '--'] : [];

export function withParentDeathSignal(command: string, args: readonly string[]): [string, string[]] {
  const [wrapper, ...wrapperArgs] = PARENT_DEATH_WRAPPER;
  return wrapper === undefined ? [command, [...args]] : [wrapper, [...wrapperArgs, command, ...args]];
}

export function startServer(name: string, command: string, args: readonly string[], logFile: string): ServerProcess {
  const log = openSync(logFile, 'a');
  const [file, argv] = withParentDeathSignal(command, args);
  let child: ChildProcess;
  try {
    // A session of its own: Ctrl-C in a terminal signals the whole foreground process group,
    // which would stop etcd alongside kube-apiserver instead of after it.
    child = spawn(file, argv, { stdio: ['ignore', log, log], detached: true });
  } finally {
    closeSync(log);
  }
  // 'error' (say, ENOENT) would make once() reject; an exit after an error is an exit all the same.
  const exit = once(child, 'exit').then(
    () => undefined,
    () => undefined,
  );
  if (child.pid === undefined) throw new Error(`Could not start ${name} (${command}).`);
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  return {
    name,
    pid: child.pid,
    logFile,
    child,
    exited,
    logTail: (lines = 30) => readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n'),
    async stop(graceMs) {
      if (exited()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        await exit;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/**
 * The process object that emits 'exit'. Inside a jest test, `process` is a copy with its own
 * listeners that never fire; code run in the main context sees the real one.
 */
export function realProcess(): NodeJS.Process {
  return runInThisContext('process') as NodeJS.Process;
}

export function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
