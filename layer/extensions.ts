import { UsageError } from '../proxy/errors.ts';

/** One PHP extension a layer can carry: where Debian ships it and what it needs loaded first. */
export interface ExtensionSpec {
  /** Debian package suffix: `mbstring` → `php8.2-mbstring`. */
  package: string;
  /** Name `php -m` prints for it. */
  module: string;
  /** Extensions that must be loaded before this one (PHP refuses to start the module otherwise). */
  requires?: readonly string[];
  /** Loaded with `zend_extension=` rather than `extension=`. */
  zend?: boolean;
}

/**
 * Extensions built into Debian's php8.2 binaries (`php -n -m`): always present, nothing to load. `sodium`
 * is one of them on Debian (linked against libsodium), not a module of php8.2-common; `pcntl` is built into
 * the CLI only ({@link CLI_BUILT_IN}).
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

/** Every shared extension Debian 12 packages for PHP 8.2 in the packages below, by the name users write. */
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
  // From PECL, packaged by Debian for its PHP 8.2 (php8.2-redis, …; their ini is in /etc/php/8.2/mods-available).
  apcu: { package: 'apcu', module: 'apcu' },
  igbinary: { package: 'igbinary', module: 'igbinary' },
  msgpack: { package: 'msgpack', module: 'msgpack' },
  redis: { package: 'redis', module: 'redis', requires: ['igbinary'] },
  memcached: {
    package: 'memcached',
    module: 'memcached',
    requires: ['igbinary', 'msgpack'],
  },
  mongodb: { package: 'mongodb', module: 'mongodb' },
  imagick: { package: 'imagick', module: 'imagick' },
  yaml: { package: 'yaml', module: 'yaml' },
  ssh2: { package: 'ssh2', module: 'ssh2' },
  amqp: { package: 'amqp', module: 'amqp' },
  uuid: { package: 'uuid', module: 'uuid' },
  ds: { package: 'ds', module: 'ds' },
  xdebug: { package: 'xdebug', module: 'xdebug', zend: true },
  pcov: { package: 'pcov', module: 'pcov' },
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
  /** Shared extensions to ship and enable, sorted, requirements included. */
  shared: string[];
  /** Requirements added that were not asked for (e.g. `pdo` for `pdo_mysql`). */
  added: string[];
  /** Names asked for that are built into the binaries. */
  builtIn: string[];
}

/**
 * Expands a user's `--extensions` list: checks each name, adds what the chosen ones require.
 *
 * @example
 *   selectExtensions(['pdo_mysql', 'sodium'])  // { shared: ['mysqlnd', 'pdo', 'pdo_mysql'], added: ['mysqlnd', 'pdo'], builtIn: ['sodium'] }
 */
export function selectExtensions(names: readonly string[]): ExtensionSelection {
  const builtIn = new Map([...BUILT_IN, ...CLI_BUILT_IN].map((m) => [m.toLowerCase(), m]));
  const shared = new Set<string>();
  const asked = new Set<string>();
  const builtInAsked = new Set<string>();
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
      continue;
    }
    if (EXTENSIONS[name] === undefined) {
      throw new UsageError(
        `unknown extension "${raw}" in --extensions — expected some of ${Object.keys(EXTENSIONS).sort().join(', ')} (built in: ${[...BUILT_IN, ...CLI_BUILT_IN].join(', ')})`,
      );
    }
    asked.add(name);
    add(name);
  }
  const sorted = [...shared].sort();
  return { shared: sorted, added: sorted.filter((n) => !asked.has(n)), builtIn: [...builtInAsked].sort() };
}
