/**
 * What the benchmark reads about a process from /proc: CPU time (utime + stime) and resident
 * memory (VmRSS now, VmHWM peak). The peak can be reset (clear_refs 5, Linux 4.0+, needs the
 * process's owner or root) so that each workload reports its own peak.
 */
import { execFileSync } from 'node:child_process';
import fsp from 'node:fs/promises';

let clockTicks: number | undefined;

/** Clock ticks per second for /proc/<pid>/stat (USER_HZ, nearly always 100). */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** User plus system CPU seconds the process has used so far (all its threads). */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await fsp.readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces and parentheses; the fields after it may not.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / ticksPerSecond();
}

export interface MemoryStats {
  /** Resident set size now, bytes. */
  rssBytes: number;
  /** Peak resident set size since start or the last resetPeakRss, bytes. */
  peakRssBytes: number;
}

export async function memoryStats(pid: number): Promise<MemoryStats> {
  const status = await fsp.readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return m ? Number(m[1]) * 1024 : NaN;
  };
  return { rssBytes: kib('VmRSS'), peakRssBytes: kib('VmHWM') };
}

/** Resets VmHWM to the current RSS; false when the kernel or permissions do not allow it. */
export async function resetPeakRss(pid: number): Promise<boolean> {
  try {
    await fsp.writeFile(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** CPU seconds all CPUs spent busy (not idle or waiting for I/O) since boot, from /proc/stat. */
export async function systemBusySeconds(): Promise<number> {
  const stat = await fsp.readFile('/proc/stat', 'utf8');
  const f = (stat.split('\n')[0] as string).trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return (user + nice + system + irq + softirq + steal) / ticksPerSecond();
}
