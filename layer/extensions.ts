import { readFileSync } from 'node:fs';
import { UsageError } from '../proxy/errors.ts';
import type { DebianArchive } from './debian.ts';
import { resolveInRoot } from './libraries.ts';

/** One PHP extension a layer can carry: where Debian ships it and what it needs loaded first. */
export interface ExtensionSpec {
  /** Debian package suffix: `mbstring` → `php8.4-mbstring`. */
  package: string;
  /** Name `php -m` prints for it. */
  module: string;
  /** Extensions that must be loaded before this one (PHP refuses to start the module otherwise). */
  requires?: readonly string[];
  /** Loaded with `zend_extension=` rather than `extension=`. */
  zend?: boolean;
}

/**
 * Extensions built into Debian's php8.4 and php8.2 binaries (`php -n -m`): always present, nothing to load.
 * `sodium` is one of them on Debian (linked against libsodium), not a module of php8.x-common; `pcntl` is
 * built into the CLI only ({@link CLI_BUILT_IN}).
 */
export const BUILT_IN = [
  'Core',
  'date',
  'filter',
  'hash',
  'json',
  'libxml',
  'openssl',
  'pcre',
  'random',
  'Reflection',
  'session',
  'sodium',
  'SPL',
  'standard',
  'zlib',
] as const;

/** Built into Debian's `php` (CLI) but not into `php-fpm`: `php -m` lists them, a web request has none. */
export const CLI_BUILT_IN = ['pcntl'] as const;

/**
 * PHP's own shared extensions, by the name users write, with the Debian package (`php8.4-<package>`,
 * `php8.2-<package>`) each comes in: several share one package, so a name here brings only its own module.
 * Any other name is taken as the package `php<version>-<name>` ({@link ExtensionSelection.packages}): the
 * PECL extensions Debian packages (redis, apcu, imagick, mongodb, xdebug…), with every module it ships.
 */
export const EXTENSIONS: Readonly<Record<string, ExtensionSpec>> = {
  opcache: { package: 'opcache', module: 'Zend OPcache', zend: true },
  bcmath: { package: 'bcmath', module: 'bcmath' },
  curl: { package: 'curl', module: 'curl' },
  gd: { package: 'gd', module: 'gd' },
  intl: { package: 'intl', module: 'intl' },
  mbstring: { package: 'mbstring', module: 'mbstring' },
  zip: { package: 'zip', module: 'zip' },
  xml: { package: 'xml', module: 'xml' },
  dom: { package: 'xml', module: 'dom' },
  simplexml: { package: 'xml', module: 'SimpleXML' },
  xmlreader: { package: 'xml', module: 'xmlreader', requires: ['dom'] },
  xmlwriter: { package: 'xml', module: 'xmlwriter' },
  xsl: { package: 'xml', module: 'xsl', requires: ['dom'] },
  mysqlnd: { package: 'mysql', module: 'mysqlnd' },
  mysqli: { package: 'mysql', module: 'mysqli', requires: ['mysqlnd'] },
  pdo_mysql: { package: 'mysql', module: 'pdo_mysql', requires: ['pdo', 'mysqlnd'] },
  pgsql: { package: 'pgsql', module: 'pgsql' },
  pdo_pgsql: { package: 'pgsql', module: 'pdo_pgsql', requires: ['pdo'] },
  sqlite3: { package: 'sqlite3', module: 'sqlite3' },
  pdo_sqlite: { package: 'sqlite3', module: 'pdo_sqlite', requires: ['pdo'] },
  calendar: { package: 'common', module: 'calendar' },
  ctype: { package: 'common', module: 'ctype' },
  exif: { package: 'common', module: 'exif' },
  ffi: { package: 'common', module: 'FFI' },
  fileinfo: { package: 'common', module: 'fileinfo' },
  ftp: { package: 'common', module: 'ftp' },
  gettext: { package: 'common', module: 'gettext' },
  iconv: { package: 'common', module: 'iconv' },
  pdo: { package: 'common', module: 'PDO' },
  phar: { package: 'common', module: 'Phar' },
  posix: { package: 'common', module: 'posix' },
  shmop: { package: 'common', module: 'shmop' },
  sockets: { package: 'common', module: 'sockets' },
  sysvmsg: { package: 'common', module: 'sysvmsg' },
  sysvsem: { package: 'common', module: 'sysvsem' },
  sysvshm: { package: 'common', module: 'sysvshm' },
  tokenizer: { package: 'common', module: 'tokenizer' },
  bz2: { package: 'bz2', module: 'bz2' },
  gmp: { package: 'gmp', module: 'gmp' },
  ldap: { package: 'ldap', module: 'ldap' },
  soap: { package: 'soap', module: 'soap' },
  tidy: { package: 'tidy', module: 'tidy' },
};

/**
 * The default set: what Laravel, Symfony and WordPress need (the list plus ctype, fileinfo, iconv,
 * tokenizer and phar, which those frameworks and Composer require). `sodium` is built in.
 */
export const DEFAULT_EXTENSIONS = [
  'opcache',
  'bcmath',
  'ctype',
  'curl',
  'dom',
  'fileinfo',
  'gd',
  'iconv',
  'intl',
  'mbstring',
  'pdo_mysql',
  'pdo_pgsql',
  'pdo_sqlite',
  'phar',
  'simplexml',
  'sodium',
  'tokenizer',
  'xml',
  'xmlreader',
  'xmlwriter',
  'zip',
] as const;

export interface ExtensionSelection {
  /** PHP's own extensions to ship and enable ({@link EXTENSIONS}), sorted, requirements included. */
  shared: string[];
  /** Requirements added that were not asked for (e.g. `pdo` for `pdo_mysql`). */
  added: string[];
  /** Names asked for that are built into the binaries. */
  builtIn: string[];
  /** Other names, each the Debian package `php<version>-<name>` to ship with all its modules, sorted. */
  packages: string[];
}

/** What a Debian package name may hold (Debian Policy §5.6.1), lower case. */
const PACKAGE_NAME = /^[a-z0-9][a-z0-9.+-]+$/;

/**
 * Expands a user's `--extensions` list: PHP's own extensions with what they require, the built-in ones set
 * apart, every other name kept as a Debian package to look for. Throws a UsageError for a name that cannot
 * be a package; whether the archive has it is known only once its index is read.
 *
 * @example
 *   selectExtensions(['pdo_mysql', 'sodium', 'redis'])
 *   // { shared: ['mysqlnd', 'pdo', 'pdo_mysql'], added: ['mysqlnd', 'pdo'], builtIn: ['sodium'], packages: ['redis'] }
 */
export function selectExtensions(names: readonly string[]): ExtensionSelection {
  const builtIn = new Map([...BUILT_IN, ...CLI_BUILT_IN].map((m) => [m.toLowerCase(), m]));
  const shared = new Set<string>();
  const asked = new Set<string>();
  const builtInAsked = new Set<string>();
  const packages = new Set<string>();
  const add = (name: string) => {
    if (shared.has(name)) return;
    shared.add(name);
    for (const dep of EXTENSIONS[name]?.requires ?? []) add(dep);
  };
  for (const raw of names) {
    const name = raw.trim().toLowerCase();
    if (name === '') continue;
    if (builtIn.has(name)) {
      builtInAsked.add(name);
    } else if (EXTENSIONS[name] !== undefined) {
      asked.add(name);
      add(name);
    } else if (PACKAGE_NAME.test(name)) {
      packages.add(name);
    } else {
      throw new UsageError(
        `invalid extension "${raw}" in --extensions — expected one of PHP's own (${Object.keys(EXTENSIONS).sort().join(', ')}) or the name of a Debian package php<version>-<name> (redis, apcu, imagick, …)`,
      );
    }
  }
  const sorted = [...shared].sort();
  return {
    shared: sorted,
    added: sorted.filter((n) => !asked.has(n)),
    builtIn: [...builtInAsked].sort(),
    packages: [...packages].sort(),
  };
}

/** Packages a PHP version's extension packages depend on that are PHP itself, not extensions. */
const NOT_EXTENSIONS = new Set(['common', 'cli', 'fpm', 'cgi', 'phpdbg', 'dev', 'readline']);

/**
 * The Debian packages to ship for `names` (package suffixes, `redis`), with the extension packages each
 * depends on (`php8.4-redis` → `php8.4-igbinary`), as apt would install them, sorted. A name the archive
 * has no `php<version>-<name>` for is a UsageError naming both ways to name an extension.
 */
export async function extensionPackages(
  archive: DebianArchive,
  php: string,
  names: readonly string[],
): Promise<string[]> {
  const found = new Set<string>();
  let wanted = [...names];
  const asked = new Set(names);
  while (wanted.length > 0) {
    const shown = await archive.show(wanted.map((n) => `php${php}-${n}`));
    const next: string[] = [];
    for (const name of wanted) {
      const pkg = shown.get(`php${php}-${name}`);
      if (pkg === undefined) {
        if (!asked.has(name)) continue; // a dependency the archive lacks is apt's concern, not ours
        throw new UsageError(
          `unknown extension "${name}" in --extensions — neither one of PHP's own (${Object.keys(EXTENSIONS).sort().join(', ')}) nor a Debian ${archive.release.version} package php${php}-${name}`,
        );
      }
      found.add(name);
      for (const alternatives of pkg.depends) {
        const dep = alternatives[0]!;
        if (!dep.startsWith(`php${php}-`)) continue;
        const suffix = dep.slice(`php${php}-`.length);
        if (!NOT_EXTENSIONS.has(suffix) && !found.has(suffix) && !next.includes(suffix)) next.push(suffix);
      }
    }
    wanted = next;
  }
  return [...found].sort();
}

/** One extension module the layer loads: its `.so` name, where it comes from, how and when PHP loads it. */
export interface LayerModule {
  /** `redis` for redis.so: also the name `php -m` prints, but for PHP's own whose {@link ExtensionSpec.module} differs. */
  name: string;
  /** Debian package suffix (`redis` for php8.4-redis). */
  package: string;
  zend: boolean;
  /** conf.d order: Debian's "; priority=NN" (10 loads before 20), after every module it requires. */
  priority: number;
}

/** Debian's ini file for a module: its priority and whether it is a Zend extension. */
function parseModuleIni(text: string): { priority: number; modules: { name: string; zend: boolean }[] } {
  const priority = Number(/^; priority=(\d+)$/m.exec(text)?.[1] ?? 20);
  const modules = [...text.matchAll(/^\s*(zend_extension|extension)\s*=\s*"?([\w-]+?)(?:\.so)?"?\s*$/gm)].map(
    (m) => ({ name: m[2]!, zend: m[1] === 'zend_extension' }),
  );
  return { priority, modules };
}

/**
 * The modules to load, read from the extracted packages in `stage`: PHP's own chosen ones (`shared`), and
 * every module the ini files of each package in `packages` enable — Debian's `mods-available` (PECL) or
 * `/usr/share/php<version>-<package>/` (PHP's own) — as `phpenmod` would. `contents(package)` lists a
 * package's paths.
 */
export async function layerModules(
  stage: string,
  php: string,
  shared: readonly string[],
  packages: readonly string[],
  contents: (pkg: string) => Promise<string[]>,
): Promise<LayerModule[]> {
  const ini = (path: string) => {
    const file = resolveInRoot(stage, path);
    return file === null ? null : readFileSync(file, 'utf8');
  };
  const modules = new Map<string, LayerModule>();
  const own = (name: string): LayerModule => {
    const known = modules.get(name);
    if (known !== undefined) return known;
    const spec = EXTENSIONS[name]!;
    const text =
      ini(`/usr/share/php${php}-${spec.package}/${spec.package}/${name}.ini`) ??
      ini(`/etc/php/${php}/mods-available/${name}.ini`);
    let priority = text === null ? 20 : parseModuleIni(text).priority;
    // PHP refuses to load a module whose required module is not loaded yet.
    for (const dep of spec.requires ?? []) priority = Math.max(priority, own(dep).priority + 1);
    const module = { name, package: spec.package, zend: spec.zend === true, priority };
    modules.set(name, module);
    return module;
  };
  for (const name of shared) own(name);
  const iniPath = new RegExp(
    `^/(etc/php/${php.replace('.', '\\.')}/mods-available|usr/share/php${php.replace('.', '\\.')}-[^/]+/[^/]+)/[^/]+\\.ini$`,
  );
  for (const pkg of packages) {
    const files = (await contents(pkg)).filter((p) => iniPath.test(p));
    for (const path of files) {
      const { priority, modules: found } = parseModuleIni(ini(path) ?? '');
      for (const m of found) if (!modules.has(m.name)) modules.set(m.name, { ...m, package: pkg, priority });
    }
  }
  return [...modules.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
}
