// CPU time (and resident memory) of a process tree, from /proc: what a row spends serving
// requests, apart from wrk's and the upstream's. Linux only, as the benchmark is.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface CpuTime {
  readonly userMicros: number;
  readonly systemMicros: number;
}

export interface CpuClock {
  /** CPU time of `pid` and every descendant (live ones, plus the exited ones they waited for). */
  tree(pid: number): CpuTime;
  /** User + system, in microseconds. */
  treeMicros(pid: number): number;
  /** Resident memory of `pid` and its live descendants, in MiB. */
  treeRssMiB(pid: number): number;
}

export function createCpuClock(): CpuClock {
  // /proc/<pid>/stat counts in clock ticks (100 a second on Linux, but ask), and pages.
  const ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const pageBytes = Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim()) || 4096;
  const micros = (ticks: number): number => (ticks * 1_000_000) / ticksPerSecond;
  /** The stats of `pid` and its descendants. */
  const treeStats = (pid: number): ProcStat[] => {
    const all = readAllStats();
    const children = new Map<number, number[]>();
    for (const stat of all.values()) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), stat.pid]);
    const found: ProcStat[] = [];
    const pending = [pid];
    for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
      const stat = all.get(next);
      if (stat === undefined) continue;
      found.push(stat);
      pending.push(...(children.get(next) ?? []));
    }
    return found;
  };
  const tree = (pid: number): CpuTime => {
    const stats = treeStats(pid);
    const sum = (ticks: (stat: ProcStat) => number) => stats.reduce((total, stat) => total + ticks(stat), 0);
    return { userMicros: micros(sum((stat) => stat.userTicks)), systemMicros: micros(sum((stat) => stat.systemTicks)) };
  };
  return {
    tree,
    treeMicros(pid) {
      const time = tree(pid);
      return time.userMicros + time.systemMicros;
    },
    treeRssMiB(pid) {
      return (treeStats(pid).reduce((total, stat) => total + stat.rssPages, 0) * pageBytes) / 2 ** 20;
    },
  };
}

interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  /** utime + cutime */
  readonly userTicks: number;
  /** stime + cstime */
  readonly systemTicks: number;
  /** Resident set size, in pages. */
  readonly rssPages: number;
}

function readAllStats(): Map<number, ProcStat> {
  const stats = new Map<number, ProcStat>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let text: string;
    try {
      text = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited since readdir
    }
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ")".
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const field = (n: number): number => Number(fields[n - 3]);
    stats.set(Number(entry), { pid: Number(entry), ppid: field(4), userTicks: field(14) + field(16), systemTicks: field(15) + field(17), rssPages: field(24) });
  }
  return stats;
}
