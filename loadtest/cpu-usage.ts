// CPU accounting around one load run, from /proc: how busy the server's and the generator's CPUs
// were, how much CPU time went to processes that are not the bench's (other work on the box,
// which makes a run noisy), and how many system calls the server made. Linux only; elsewhere
// every figure is undefined.

import { readFileSync } from 'node:fs';

export interface CpuSnapshot {
  /** Busy and total ticks per CPU number. */
  perCpu: Map<number, { busy: number; total: number }>;
  /** Ticks used by the bench and its children (running ones by pid, exited ones via cutime). */
  benchTicks: number;
}

export interface CpuUsage {
  /** Busy share (0..1) of each CPU during the run. */
  busy: Map<number, number>;
  /** Share (0..1) of all CPUs' time used by processes outside the bench. */
  foreign: number;
}

function readProcStat(): Map<number, { busy: number; total: number }> {
  const out = new Map<number, { busy: number; total: number }>();
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    // user nice system idle iowait irq softirq steal guest guest_nice (guest is inside user)
    const f = m[2].trim().split(/\s+/).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    out.set(Number(m[1]), { busy: total - f[3] - f[4], total });
  }
  return out;
}

/** Clock ticks per second in /proc/<pid>/stat (USER_HZ, 100 on Linux). */
export const ticksPerSecond = 100;

/** utime + stime (+ cutime + cstime when `withChildren`) of one process, in ticks. */
export function processTicks(pid: number | 'self', withChildren: boolean): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the ")" that ends the command name; utime is field 14 of the whole line.
    const f = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    return f[11] + f[12] + (withChildren ? f[13] + f[14] : 0);
  } catch {
    return 0; // the process has exited: its time is no longer attributable here.
  }
}

/** Takes a snapshot; `pids` are the bench's long-running children (edge, origin, bare server). */
export function snapshot(pids: readonly number[]): CpuSnapshot | undefined {
  try {
    const perCpu = readProcStat();
    let benchTicks = processTicks('self', true);
    for (const pid of pids) benchTicks += processTicks(pid, false);
    return { perCpu, benchTicks };
  } catch {
    return undefined; // no /proc: usage is not reported.
  }
}

/** What happened between two snapshots. */
export function usageBetween(a: CpuSnapshot | undefined, b: CpuSnapshot | undefined): CpuUsage | undefined {
  if (!a || !b) return undefined;
  const busy = new Map<number, number>();
  let allBusy = 0;
  let allTotal = 0;
  for (const [cpu, end] of b.perCpu) {
    const start = a.perCpu.get(cpu);
    if (!start) continue;
    const total = end.total - start.total;
    const used = end.busy - start.busy;
    busy.set(cpu, total > 0 ? used / total : 0);
    allBusy += used;
    allTotal += total;
  }
  const foreignTicks = Math.max(0, allBusy - (b.benchTicks - a.benchTicks));
  return { busy, foreign: allTotal > 0 ? foreignTicks / allTotal : 0 };
}

/** Read- and write-type system calls a process made so far (/proc/PID/io: read, readv, recvmsg...; write, writev, sendmsg...). */
export interface SyscallCount {
  reads: number;
  writes: number;
}

export function syscallCount(pid: number): SyscallCount | undefined {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const reads = /^syscr: (\d+)$/m.exec(io);
    const writes = /^syscw: (\d+)$/m.exec(io);
    return reads && writes ? { reads: Number(reads[1]), writes: Number(writes[1]) } : undefined;
  } catch {
    return undefined; // no /proc, or no I/O accounting in this kernel: not reported.
  }
}
