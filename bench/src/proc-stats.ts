import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** Resident set size in MB, from /proc/<pid>/status. */
export function rssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return kb / 1024;
  } catch {
    return 0;
  }
}

/** Pids whose command line contains every given fragment. */
export function findPids(...fragments: string[]): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (fragments.every((f) => cmd.includes(f))) pids.push(Number(entry));
    } catch {
      // gone already
    }
  }
  return pids;
}

/** Socket inodes listening on a TCP port (any address), from /proc/net/tcp{,6}. */
function listeningInodes(port: number): Set<string> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is ADDR:PORT in hex; state 0A is LISTEN; field 9 is the inode.
      if (f[1]?.endsWith(`:${hexPort}`) && f[3] === '0A') inodes.add(f[9]!);
    }
  }
  return inodes;
}

/**
 * The process listening on a TCP port: on a shared machine other MariaDB, Redis or NATS servers
 * (a test suite's own) run too, and only the one the services use may be charged. Falls back to
 * the command-line match when the sockets cannot be read.
 */
export function pidListeningOn(port: number, ...fallback: string[]): number[] {
  const inodes = listeningInodes(port);
  if (inodes.size > 0) {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        for (const fd of readdirSync(`/proc/${entry}/fd`)) {
          const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${entry}/fd/${fd}`));
          if (m && inodes.has(m[1]!)) return [Number(entry)];
        }
      } catch {
        // gone, or not ours to read
      }
    }
  }
  return fallback.length ? findPids(...fallback) : [];
}

/**
 * Node processes running `script` in the working directory `dir` (not the `sh -c` wrapper a
 * package manager's start script leaves around them).
 */
export function findNodePidsIn(dir: string, script: string): number[] {
  return findPids(script).filter((pid) => {
    try {
      const argv0 = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '';
      return /(^|\/)node$/.test(argv0) && readlinkSync(`/proc/${pid}/cwd`) === dir;
    } catch {
      return false;
    }
  });
}

/** The server-side processes a scenario is charged for. */
export interface Watched {
  label: string;
  pid: number;
}

/** Samples CPU at start/stop and peak RSS every 200 ms while running. */
export class ProcessMeter {
  private startCpu = new Map<number, number>();
  private peak = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly watched: Watched[]) {}

  start(): void {
    for (const { pid } of this.watched) {
      this.startCpu.set(pid, cpuSeconds(pid));
      this.peak.set(pid, rssMb(pid));
    }
    this.timer = setInterval(() => {
      for (const { pid } of this.watched)
        this.peak.set(pid, Math.max(this.peak.get(pid) ?? 0, rssMb(pid)));
    }, 200);
  }

  stop(): { cpuSeconds: Record<string, number>; peakRssMb: Record<string, number> } {
    clearInterval(this.timer);
    const cpu: Record<string, number> = {};
    const rss: Record<string, number> = {};
    for (const { label, pid } of this.watched) {
      cpu[label] = (cpu[label] ?? 0) + cpuSeconds(pid) - (this.startCpu.get(pid) ?? 0);
      rss[label] = Math.max(rss[label] ?? 0, this.peak.get(pid) ?? 0, rssMb(pid));
    }
    return { cpuSeconds: cpu, peakRssMb: rss };
  }
}
