/**
 * CPU time of processes and of the whole machine, read from Linux's /proc (see proc(5)), so that a run can
 * say what each measured process cost per request and how much of the machine something else took meanwhile.
 * Every function returns NaN where /proc cannot be read (another OS, a restricted container).
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

/** Ticks per second of /proc's CPU counters (USER_HZ: 100 on every Linux architecture). */
const USER_HZ = 100;

/** The fields of /proc/PID/stat after "(comm) ", which may itself hold spaces: field 3 (state) is [0]. */
function statFields(pid: number | string): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/**
 * CPU time (user + system) in µs used so far by a process and its current children: php-fpm's master and
 * workers, nginx's master and worker, a Node front alone.
 */
export function treeCpuMicros(pid: number | null): number {
  if (pid === null) return Number.NaN;
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/);
    let ticks = 0;
    for (const p of [String(pid), ...children.filter((c) => c !== '')]) {
      const fields = statFields(p);
      // utime is field 14 and stime field 15.
      ticks += Number(fields[11]) + Number(fields[12]);
    }
    return (ticks / USER_HZ) * 1e6;
  } catch {
    return Number.NaN;
  }
}

/**
 * CPU time in µs of this process's children that have exited and been reaped (cutime + cstime): sampled
 * around a load generator's run, the difference is its own CPU time.
 */
export function reapedChildrenCpuMicros(): number {
  try {
    const fields = statFields('self');
    // cutime is field 16 and cstime field 17.
    return ((Number(fields[13]) + Number(fields[14])) / USER_HZ) * 1e6;
  } catch {
    return Number.NaN;
  }
}

/**
 * Busy CPU time in µs of the whole machine so far, summed over CPUs: user, nice, system, irq, softirq and
 * steal (time the hypervisor gave to another guest is time we did not get either).
 */
export function machineBusyMicros(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return (
      (((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / USER_HZ) *
      1e6
    );
  } catch {
    return Number.NaN;
  }
}

/** What the machine was doing during one measured window besides the processes measured. */
export interface MachineLoad {
  /** The 1-minute load average at the window's end. */
  loadavg: number;
  /** Share (%) of all CPUs busy with other processes (and steal) during the window. */
  othersPct: number;
}

/** What a {@link LoadWindow} found: each watched process tree's CPU µs, and the machine's load. */
export interface WindowResult extends MachineLoad {
  /** CPU µs of each watched process tree, in the order given. */
  treesUs: number[];
  /** CPU µs of the children reaped during the window (a load generator that ran and exited). */
  reapedUs: number;
  /** Wall-clock µs. */
  windowUs: number;
}

/**
 * One measured window: the CPU time of the process trees watched (a front, php-fpm), of the children that
 * ran and exited meanwhile (the load generator) and of this process, against the machine's busy time — the
 * rest is what other processes took, recorded with each run so that a noisy one can be told apart.
 */
export class LoadWindow {
  private readonly at = performance.now();
  private readonly busy = machineBusyMicros();
  private readonly self = process.cpuUsage();
  private readonly reaped = reapedChildrenCpuMicros();
  private readonly trees: number[];

  constructor(
    private readonly pids: readonly number[],
    private readonly cpus: number,
  ) {
    this.trees = pids.map(treeCpuMicros);
  }

  end(): WindowResult {
    const windowUs = (performance.now() - this.at) * 1000;
    const treesUs = this.pids.map((pid, i) => treeCpuMicros(pid) - this.trees[i]!);
    const reapedUs = reapedChildrenCpuMicros() - this.reaped;
    const self = process.cpuUsage(this.self);
    const measured = treesUs.reduce((a, b) => a + b, 0) + reapedUs + self.user + self.system;
    const othersUs = machineBusyMicros() - this.busy - measured;
    return {
      treesUs,
      reapedUs,
      windowUs,
      loadavg: loadavg()[0]!,
      othersPct: Math.max(0, (100 * othersUs) / (windowUs * this.cpus)),
    };
  }
}
