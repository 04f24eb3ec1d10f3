import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LayerError } from '../proxy/errors.ts';

/** Lambda's architecture names and Debian's. */
export type LambdaArch = 'x86_64' | 'arm64';
export const DEBIAN_ARCH: Readonly<Record<LambdaArch, string>> = { x86_64: 'amd64', arm64: 'arm64' };
/** Debian's multiarch library directory name (`/usr/lib/<triplet>`). */
export const TRIPLET: Readonly<Record<LambdaArch, string>> = {
  x86_64: 'x86_64-linux-gnu',
  arm64: 'aarch64-linux-gnu',
};

/** The archive key Debian's own `debian-archive-keyring` installs; it holds the keys of 12 and 13 alike. */
export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** A Debian release the layer is built from, with the one PHP version it packages. */
export interface DebianRelease {
  /** `13` */
  version: string;
  /** `trixie` */
  codename: string;
  /** `8.4`: the PHP its `php8.4-*` packages carry. */
  php: string;
}

/**
 * The PHP versions a layer can carry, newest (the default) first, each from the Debian release that packages
 * it: PHP 8.4 from Debian 13 (trixie), 8.2 from Debian 12 (bookworm).
 */
export const RELEASES: readonly DebianRelease[] = [
  { version: '13', codename: 'trixie', php: '8.4' },
  { version: '12', codename: 'bookworm', php: '8.2' },
];

/**
 * Where packages come from: the release with its point and security updates, checked against the archive
 * key. Written into a private apt directory, so the host's sources (which may hold third-party repositories
 * or another release) play no part.
 */
export function debianSources(release: DebianRelease): string {
  const { codename } = release;
  return `Types: deb
URIs: http://deb.debian.org/debian
Suites: ${codename} ${codename}-updates
Components: main
Signed-By: ${DEBIAN_KEYRING}

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: ${codename}-security
Components: main
Signed-By: ${DEBIAN_KEYRING}
`;
}

/** One binary package as the archive index describes it. */
export interface DebianPackage {
  name: string;
  version: string;
  /** `amd64`, `arm64`, or `all` for architecture-independent data. */
  architecture: string;
  /** Relations the package needs at run time (Pre-Depends and Depends), each a list of alternatives. */
  depends: string[][];
  sha256: string;
  size: number;
}

/** Runs apt or dpkg; a failure names the command without its `-o` options and apt's `E:` line. */
function run(file: string, args: readonly string[], cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err === null) return resolve(stdout);
      const reason =
        (stderr
          .trim()
          .split('\n')
          .filter((l) => l.startsWith('E:'))[0] ??
          stderr.trim()) ||
        err.message;
      reject(
        new LayerError(
          `${file} ${args.filter((a, i) => a !== '-o' && args[i - 1] !== '-o').join(' ')} failed: ${reason}`,
          {
            cause: err,
          },
        ),
      );
    });
  });
}

/**
 * A private apt setup for one architecture under `dir` (its own sources, lists, empty dpkg status), so that
 * the build needs neither root nor `dpkg --add-architecture`, and leaves the host's apt state untouched.
 * Needs `apt-get`, `apt-cache` and `dpkg-deb` (Debian and Ubuntu have them) and network access to
 * deb.debian.org.
 */
export class DebianArchive {
  private readonly options: string[];
  private readonly debs: string;

  /**
   * @param offline use the package lists and `.deb` files already in `dir`, never the network: the same
   *   packages as the last online build, hence the same layer.
   */
  constructor(
    readonly dir: string,
    readonly release: DebianRelease,
    readonly arch: LambdaArch,
    readonly offline = false,
  ) {
    const state = join(dir, 'state');
    mkdirSync(join(state, 'lists', 'partial'), { recursive: true });
    mkdirSync(join(dir, 'cache', 'archives', 'partial'), { recursive: true });
    mkdirSync(join(dir, 'sources'), { recursive: true });
    mkdirSync(join(dir, 'preferences'), { recursive: true });
    this.debs = join(dir, 'debs');
    mkdirSync(this.debs, { recursive: true });
    writeFileSync(join(dir, 'sources', 'debian.sources'), debianSources(release));
    writeFileSync(join(state, 'status'), '');
    const debianArch = DEBIAN_ARCH[arch];
    this.options = [
      ['Dir::State::Lists', join(state, 'lists')],
      ['Dir::State::status', join(state, 'status')],
      ['Dir::Cache', join(dir, 'cache')],
      ['Dir::Etc::SourceList', '/dev/null'],
      ['Dir::Etc::SourceParts', join(dir, 'sources')],
      // Nor the host's pinning: the candidate of every package is the archive's newest.
      ['Dir::Etc::Preferences', '/dev/null'],
      ['Dir::Etc::PreferencesParts', join(dir, 'preferences')],
      // Only this architecture's indexes, whatever dpkg on the host is set up for.
      ['APT::Architecture', debianArch],
      ['APT::Architectures', debianArch],
      // As root, apt would download as the "_apt" user, which cannot write into a private directory.
      ['APT::Sandbox::User', 'root'],
      ['Acquire::Languages', 'none'],
    ].flatMap(([k, v]) => ['-o', `${k}=${v}`]);
  }

  /** `apt-get update` for the private lists (a few seconds; unchanged indexes are not fetched again). */
  async update(): Promise<void> {
    if (this.offline) {
      const lists = readdirSync(join(this.dir, 'state', 'lists')).filter((f) => f.includes('_Packages'));
      if (lists.length === 0) {
        throw new LayerError(`no package lists cached in ${this.dir} — build once without --offline`);
      }
      return;
    }
    if (!existsSync(DEBIAN_KEYRING)) {
      throw new LayerError(
        `${DEBIAN_KEYRING} is missing: apt cannot check Debian's signatures without it — install it: apt-get install debian-archive-keyring`,
      );
    }
    await run('apt-get', ['-q', ...this.options, 'update']);
  }

  /** The candidate version of each name the archive has; names it lacks (or purely virtual ones) are absent. */
  async show(names: readonly string[]): Promise<Map<string, DebianPackage>> {
    // apt-cache fails ("E: No packages found") only when it finds none of the names; then none is there.
    const out =
      names.length === 0
        ? ''
        : await run('apt-cache', [...this.options, 'show', '--no-all-versions', ...names]).catch((err) => {
            if (err instanceof LayerError && err.message.endsWith('E: No packages found')) return '';
            throw err;
          });
    const found = new Map<string, DebianPackage>();
    for (const stanza of out.split(/\n\n+/)) {
      const fields = parseStanza(stanza);
      const name = fields.get('Package');
      if (name === undefined) continue;
      found.set(name, {
        name,
        version: fields.get('Version') ?? '',
        architecture: fields.get('Architecture') ?? DEBIAN_ARCH[this.arch],
        depends: [fields.get('Pre-Depends'), fields.get('Depends')]
          .filter((f): f is string => f !== undefined)
          .flatMap(parseRelations),
        sha256: fields.get('SHA256') ?? '',
        size: Number(fields.get('Size') ?? 0),
      });
    }
    return found;
  }

  /**
   * `roots` and, transitively, the dependencies `follow` accepts (first alternative the archive has),
   * sorted by name. A root the archive lacks is an error naming it.
   */
  async closure(roots: readonly string[], follow: (name: string) => boolean): Promise<DebianPackage[]> {
    const all = new Map<string, DebianPackage>();
    let wanted = [...new Set(roots)];
    const first = await this.show(wanted);
    const missing = wanted.filter((n) => !first.has(n));
    if (missing.length > 0) {
      throw new LayerError(
        `Debian ${this.release.version} ${DEBIAN_ARCH[this.arch]} has no package ${missing.join(', ')} — check --php and --extensions`,
      );
    }
    let level = first;
    while (level.size > 0) {
      for (const [name, pkg] of level) all.set(name, pkg);
      wanted = [];
      for (const pkg of level.values()) {
        for (const alternatives of pkg.depends) {
          const pick = alternatives.find((a) => all.has(a)) ?? alternatives[0]!;
          if (!all.has(pick) && follow(pick) && !wanted.includes(pick)) wanted.push(pick);
        }
      }
      level = await this.show(wanted);
    }
    return [...all.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /**
   * Downloads the `.deb` of each package into the cache (once: a cached file whose SHA-256 matches the index
   * is reused) and returns their paths in the same order.
   */
  async download(
    packages: readonly DebianPackage[],
    progress: (line: string) => void = () => {},
  ): Promise<string[]> {
    const pathOf = (p: DebianPackage) =>
      join(this.debs, `${p.name}_${p.version.replace(/:/g, '%3a')}_${p.architecture}.deb`);
    const fresh = (p: DebianPackage) =>
      existsSync(pathOf(p)) &&
      createHash('sha256')
        .update(readFileSync(pathOf(p)))
        .digest('hex') === p.sha256;
    const todo = packages.filter((p) => !fresh(p));
    const mb = (todo.reduce((n, p) => n + p.size, 0) / 1048576).toFixed(1);
    progress(
      todo.length === 0 || this.offline
        ? `all ${packages.length} packages are in the cache ${this.debs}`
        : `downloading ${todo.length} of ${packages.length} packages (${mb} MiB) into ${this.debs}`,
    );
    if (todo.length > 0 && this.offline) {
      throw new LayerError(
        `${todo.map((p) => `${p.name}=${p.version}`).join(', ')} not in the cache ${this.debs} — build once without --offline`,
      );
    }
    if (todo.length > 0) {
      await run(
        'apt-get',
        ['-q', ...this.options, 'download', ...todo.map((p) => `${p.name}=${p.version}`)],
        this.debs,
      );
    }
    for (const p of packages) {
      if (!fresh(p))
        throw new LayerError(`downloaded ${pathOf(p)} does not match the archive's SHA-256 ${p.sha256}`);
    }
    return packages.map(pathOf);
  }

  /** Removes cached `.deb` files no package in `keep` uses (old versions after an update). */
  prune(keep: readonly string[]): void {
    const names = new Set(keep.map((p) => p.slice(this.debs.length + 1)));
    for (const f of readdirSync(this.debs)) if (!names.has(f)) rmSync(join(this.debs, f), { force: true });
  }
}

/** `dpkg-deb -x` each package into `dir`, in order. */
export async function extractDebs(debs: readonly string[], dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  for (const deb of debs) await run('dpkg-deb', ['-x', deb, dir]);
}

/** Fields of one deb822 stanza (continuation lines joined with a space). */
export function parseStanza(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  let last: string | null = null;
  for (const line of text.split('\n')) {
    if (/^\s/.test(line) && last !== null) {
      fields.set(last, `${fields.get(last)} ${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    last = line.slice(0, colon);
    fields.set(last, line.slice(colon + 1).trim());
  }
  return fields;
}

/**
 * `libc6 (>= 2.34), media-types | mime-support, python3:any` → `[['libc6'], ['media-types', 'mime-support'],
 * ['python3']]`: package names only (versions are whatever the archive's candidate is).
 */
export function parseRelations(field: string): string[][] {
  return field
    .split(',')
    .map((rel) =>
      rel
        .split('|')
        .map((alt) =>
          alt
            .trim()
            .replace(/\s*[([<].*$/, '')
            .replace(/:\w+$/, ''),
        )
        .filter((n) => n !== ''),
    )
    .filter((alts) => alts.length > 0);
}

/** The paths a `.deb` installs (`dpkg-deb -c`), absolute; links by their own path. */
export async function debContents(deb: string): Promise<string[]> {
  const out = await run('dpkg-deb', ['-c', deb]);
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      // "-rw-r--r-- root/root  1234 2025-01-01 00:00 ./etc/x.ini" or "… ./a -> b"
      const path = l.slice(l.indexOf(' ./') + 2);
      const arrow = path.indexOf(' -> ');
      return arrow === -1 ? path : path.slice(0, arrow);
    });
}
