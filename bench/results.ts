import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { locatePhpFpm } from '../proxy/fpm/locate.ts';
import { PhpFpmSupervisor } from '../proxy/fpm/supervisor.ts';

export const RESULTS_FILE = fileURLToPath(new URL('./RESULTS.md', import.meta.url));

/**
 * Replaces one benchmark's section of bench/RESULTS.md (between `<!-- bench:ID -->` and `<!-- /bench:ID -->`),
 * or appends it, so each bench script rewrites only its own results and the file keeps the others.
 */
export function writeSection(id: string, markdown: string): void {
  const start = `<!-- bench:${id} -->`;
  const end = `<!-- /bench:${id} -->`;
  const block = `${start}\n${markdown.trim()}\n${end}`;
  const current = existsSync(RESULTS_FILE) ? readFileSync(RESULTS_FILE, 'utf8') : '# Benchmarks\n';
  const i = current.indexOf(start);
  const j = current.indexOf(end);
  const next =
    i >= 0 && j > i
      ? current.slice(0, i) + block + current.slice(j + end.length)
      : `${current.trimEnd()}\n\n${block}\n`;
  writeFileSync(RESULTS_FILE, next);
}

/** The first line of `php-fpm -v` (version and build date), as each report states it. */
export function phpFpmVersion(): string {
  return execFileSync(locatePhpFpm(), ['-v'], { encoding: 'utf8' }).split('\n')[0]!;
}

/** A comma-separated option value (`--fronts nginx,haproxy`) as its items, empty ones dropped. */
export function list(value: string): string[] {
  return value.split(',').filter((x) => x !== '');
}

/**
 * The php-fpm pool every front or client of a bench shares: `workers` static workers, no request time
 * limit, Debian's php.ini; not started yet. `log` collects its lines (warnings are reported with the results).
 */
export function benchFpm(workers: number): { fpm: PhpFpmSupervisor; log: string[] } {
  const log: string[] = [];
  const fpm = new PhpFpmSupervisor({
    binary: locatePhpFpm(),
    workers,
    requestTerminateTimeout: 0,
    scriptExtensions: ['.php'],
    phpIniDirs: [],
    startTimeout: 10_000,
    onLog: (line) => log.push(line),
  });
  return { fpm, log };
}
