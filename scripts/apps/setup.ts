// scripts/apps/setup.sh from TypeScript, for the app tests (test/support/apps.ts) and the app benches
// (bench/apps.ts).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SETUP = fileURLToPath(new URL('./setup.sh', import.meta.url));

/**
 * Runs `setup.sh COMMAND` with `env` and returns the KEY=VALUE lines it printed; throws with its stderr if it
 * failed.
 */
export function runSetup(command: string, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const run = spawnSync('bash', [SETUP, command], { encoding: 'utf8', env });
  if (run.status !== 0) throw new Error(`setup.sh ${command} failed: ${run.stderr.trim()}`);
  return Object.fromEntries(
    run.stdout
      .trim()
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}
