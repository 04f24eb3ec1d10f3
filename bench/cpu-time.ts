/**
 * CPU time of other processes, read from Linux's /proc (see proc(5)), so that a run can say what php-fpm cost
 * per request and how much of the machine something else took meanwhile. Every function returns NaN where
 * /proc cannot be read (another OS, a restricted container).
 */
import { readFileSync } from 'node:fs';

/** Ticks per second of /proc's CPU counters (USER_HZ: 100 on every Linux architecture). */
const USER_HZ = 100;

/** CPU time (user + system) in µs used so far by php-fpm's master and its current workers. */
export function fpmCpuMicros(masterPid: number | null): number {
  if (masterPid === null) return Number.NaN;
  try {
    const children = readFileSync(`/proc/${masterPid}/task/${masterPid}/children`, 'utf8')
      .trim()
      .split(/\s+/);
    let ticks = 0;
    for (const pid of [String(masterPid), ...children.filter((c) => c !== '')]) {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // The fields after "(comm) " start at field 3 (state); utime is field 14 and stime field 15.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    }
    return (ticks / USER_HZ) * 1e6;
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
