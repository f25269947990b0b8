// CPU time of a process tree, from /proc: what a row spends serving requests, apart from
// wrk's and the upstream's. Linux only, as the benchmark is.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface CpuClock {
  /** User + system CPU time of `pid` and every descendant, in microseconds (live ones, plus the exited ones they waited for). */
  treeMicros(pid: number): number;
}

export function createCpuClock(): CpuClock {
  // /proc/<pid>/stat counts in clock ticks (100 a second on Linux, but ask).
  const ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return {
    treeMicros(pid) {
      const all = readAllStats();
      const children = new Map<number, number[]>();
      for (const stat of all.values()) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), stat.pid]);
      let ticks = 0;
      const pending = [pid];
      for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
        const stat = all.get(next);
        if (stat === undefined) continue;
        ticks += stat.ticks;
        pending.push(...(children.get(next) ?? []));
      }
      return (ticks * 1_000_000) / ticksPerSecond;
    },
  };
}

interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  /** utime + stime + cutime + cstime */
  readonly ticks: number;
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
    stats.set(Number(entry), { pid: Number(entry), ppid: field(4), ticks: field(14) + field(15) + field(16) + field(17) });
  }
  return stats;
}
