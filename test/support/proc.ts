// What this process and its children hold, read from /proc (Linux): for leak checks.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Open file descriptors of this process. */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Open sockets of this process (TCP, Unix), by their /proc/self/fd links. */
export function openSockets(): number {
  return openFilesUnder('socket:').length;
}

/** Resident set size of this process in bytes. */
export function rss(): number {
  return process.memoryUsage.rss();
}

/** Pids of the live (not zombie) children of `pid`. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(ppid) === pid && state !== 'Z') out.push(Number(entry));
  }
  return out;
}

/** Whether process `pid` still runs (a zombie does not). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The command line of `pid`, arguments joined by spaces ('' once it exited). */
export function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return '';
  }
}

/**
 * What this process holds open whose path starts with `prefix`, by its /proc/self/fd links: a file that was
 * unlinked while open still shows, as "PATH (deleted)".
 */
export function openFilesUnder(prefix: string): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(prefix)) out.push(target);
    } catch {
      // The fd closed while we looked (readdir's own one among them).
    }
  }
  return out;
}

/** Where `serve` puts request bodies too large for memory (server/spool.ts). */
const BODY_FILES = join(tmpdir(), 'fpm-bridge-body-');

/** `serve`'s temporary body files this process holds open (they are unlinked at once), and any left by name. */
export function bodyFiles(): string[] {
  const named = readdirSync(tmpdir())
    .map((n) => join(tmpdir(), n))
    .filter((p) => p.startsWith(BODY_FILES));
  return [...openFilesUnder(BODY_FILES), ...named];
}
