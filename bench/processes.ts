/** Memory of this machine's processes, from Linux /proc, for the benchmarks. */
import * as fs from 'node:fs';

/** Each live process whose command line matches `pattern`: its /proc status text. */
function statuses(pattern: RegExp): string[] {
  const out: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (pattern.test(cmd)) out.push(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    } catch {
      /* the process ended meanwhile */
    }
  }
  return out;
}

const kbOf = (field: string, status: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;

/** Resident memory of processes whose command line matches `pattern`, together, in bytes. */
export function rssOf(pattern: RegExp): number {
  return statuses(pattern).reduce((s, st) => s + kbOf('VmRSS', st), 0);
}

/** The largest peak resident memory (VmHWM) of any one process whose command line matches `pattern`, in bytes. */
export function peakRssOf(pattern: RegExp): number {
  return Math.max(0, ...statuses(pattern).map((st) => kbOf('VmHWM', st)));
}
