// `npm run frameworks [-- [--cache DIR] APP_DIR...]` installs the PHP dependencies of examples/laravel and examples/symfony
// (or of the apps named) into each app's vendor/, as Composer would, from Debian 13's packages: neither
// Packagist nor Composer is needed. Debian packages Laravel 10 (php-laravel-framework, php-illuminate-*) and
// Symfony 6.4 (php-symfony-*) for /usr/share/php; this fetches the packages composer.json requires, with the
// PHP libraries they depend on, through the layer's Debian machinery (layer/debian.ts: apt-get download and
// dpkg-deb -x into a private directory, no root), copies their /usr/share/php into vendor/ and relocates
// their autoloaders, which require each other by absolute /usr/share/php paths, to vendor/ wherever it lies
// (/var/task/vendor on Lambda).
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { DebianArchive, type DebianPackage, debContents, extractDebs, RELEASES } from '../layer/debian.ts';
import { BUILT_IN } from '../layer/extensions.ts';

/** The Debian release the frameworks come from: Debian 13, whose Laravel is 10.48 and Symfony 6.4. */
const RELEASE = RELEASES[0]!;

/** Where Debian's PHP libraries live, and what their autoloaders name. */
const SHARE_PHP = '/usr/share/php/';

/** Written into vendor/: what was installed, from which composer.json (see {@link vendorIsCurrent}). */
export const MANIFEST = 'fpm-bridge-vendor.json';
/** The layout of vendor/ this script writes; a vendor/ of another is written again. */
const LAYOUT = 3;

/** The example apps `npm run frameworks` installs when given none. */
export const EXAMPLE_APPS = ['examples/laravel', 'examples/symfony'] as const;

/**
 * composer.json requirements that are no Debian package: the platform (`php`, `ext-*`, `lib-*`), Symfony's
 * polyfills (Debian's PHP has the extensions they stand in for) and Composer plugins.
 */
function isPlatformOrPlugin(name: string): boolean {
  return (
    name === 'php' ||
    name.startsWith('ext-') ||
    name.startsWith('lib-') ||
    name.startsWith('symfony/polyfill-') ||
    name === 'symfony/flex'
  );
}

/**
 * The Debian package of a Composer package, by pkg-php-tools' rule: `vendor/project` is `php-vendor-project`,
 * or `php-project` when both names are the same (`twig/twig` → `php-twig`).
 *
 * @example
 *   debianName('symfony/framework-bundle')  // 'php-symfony-framework-bundle'
 */
export function debianName(composerName: string): string {
  const [vendor, project] = composerName.toLowerCase().split('/');
  if (vendor === undefined || project === undefined || vendor === '' || project === '') {
    throw new Error(`composer.json requires "${composerName}", which is no vendor/project name`);
  }
  return vendor === project ? `php-${project}` : `php-${vendor}-${project}`;
}

/** What scripts/frameworks.ts reads from an app's composer.json. */
interface ComposerJson {
  require?: Record<string, string>;
  autoload?: { 'psr-4'?: Record<string, string | string[]>; files?: string[] };
  extra?: { runtime?: Record<string, unknown> };
}

export interface VendorOptions {
  /** apt lists and .deb files kept between runs (default ~/.cache/fpm-bridge/frameworks). */
  cacheDir?: string;
  /** Progress lines. */
  onProgress?: (line: string) => void;
}

export interface VendorReport {
  /** Every Debian package whose files are in vendor/, sorted by name. */
  packages: readonly { name: string; version: string }[];
  /** PHP extensions the packages depend on (`intl`, `mbstring`…): the PHP that runs the app needs them. */
  extensions: readonly string[];
}

function defaultCacheDir(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'fpm-bridge', 'frameworks');
}

/** sha256 of the app's composer.json, which the manifest records. */
function composerHash(appDir: string): string {
  return createHash('sha256')
    .update(readFileSync(join(appDir, 'composer.json')))
    .digest('hex');
}

/** vendor/'s manifest as written, or null when there is none. */
function readManifest(appDir: string): string | null {
  try {
    return readFileSync(join(appDir, 'vendor', MANIFEST), 'utf8');
  } catch {
    return null;
  }
}

/** The app's vendor/ was installed by {@link installVendor} from its composer.json as it is now. */
export function vendorIsCurrent(appDir: string): boolean {
  const manifest = readManifest(appDir);
  return (
    manifest !== null &&
    (JSON.parse(manifest) as { composerJson?: string }).composerJson === composerHash(appDir)
  );
}

/**
 * Installs the Debian packages `appDir/composer.json` requires, and the PHP libraries they depend on, into
 * `appDir/vendor` (replacing it once the new one is complete), with:
 *
 * - the packages' `/usr/share/php` trees, their autoloaders' absolute `/usr/share/php/…` paths rewritten to
 *   `dirname(__DIR__, N).'/…'`, so that vendor/ works wherever the app is deployed;
 * - `vendor/autoload.php`: one class map of every package's classes (`vendor/autoload_classmap.php`, made
 *   from their autoloaders), the files those autoloaders load, Composer's `Composer\InstalledVersions`
 *   (Symfony's dependency injection asks it which packages are installed) and the app's own `autoload`
 *   (`psr-4`, `files`);
 * - `vendor/autoload_runtime.php` when symfony/runtime is required, as its Composer plugin writes it.
 */
export async function installVendor(appDir: string, options: VendorOptions = {}): Promise<VendorReport> {
  const progress = options.onProgress ?? (() => {});
  const app = resolve(appDir);
  const composer = JSON.parse(readFileSync(join(app, 'composer.json'), 'utf8')) as ComposerJson;
  const required = Object.keys(composer.require ?? {}).filter((n) => !isPlatformOrPlugin(n));
  const roots = required.map(debianName);
  // Packages are architecture-independent (`all`); any architecture's index lists them.
  const archive = new DebianArchive(
    join(options.cacheDir ?? defaultCacheDir(), `${RELEASE.codename}-x86_64`),
    RELEASE,
    'x86_64',
  );
  progress(`updating the Debian ${RELEASE.version} package lists in ${archive.dir}`);
  await archive.update();
  // PHP libraries are `php-*`; PHP itself (php8.4-*) is the layer's, not the app's.
  const packages = await archive.closure(roots, (n) => n.startsWith('php-'));
  const report: VendorReport = {
    packages: packages.map((p) => ({ name: p.name, version: p.version })),
    extensions: extensionsNeeded(packages),
  };
  const manifest = `${JSON.stringify({ layout: LAYOUT, debian: RELEASE.version, composerJson: composerHash(app), ...report }, null, 2)}\n`;
  if (readManifest(app) === manifest) {
    progress(`${relative(process.cwd(), app) || app}/vendor is up to date`);
    return report;
  }
  // Only its Composer\InstalledVersions: Debian's composer is the command, with libraries of its own.
  const [composerPackage] = await archive.closure(['composer'], () => false);
  const debs = await archive.download([...packages, composerPackage!], progress);
  const work = mkdtempSync(join(tmpdir(), 'fpm-bridge-vendor-'));
  try {
    const stage = join(work, 'stage');
    progress(`unpacking ${packages.length} packages`);
    await extractDebs(debs.slice(0, packages.length), stage);
    await extractDebs([debs.at(-1)!], join(work, 'composer'));
    const vendor = join(work, 'vendor');
    cpSync(join(stage, SHARE_PHP), vendor, { recursive: true, verbatimSymlinks: true });
    mkdirSync(join(vendor, 'Composer'), { recursive: true });
    cpSync(
      join(work, 'composer', SHARE_PHP, 'Composer', 'InstalledVersions.php'),
      join(vendor, 'Composer', 'InstalledVersions.php'),
    );
    relocateAutoloaders(vendor);
    const autoloaders = await Promise.all(
      roots.map(async (name) =>
        rootAutoloader(name, await debContents(debs[packages.findIndex((p) => p.name === name)]!)),
      ),
    );
    const merged = mergeAutoloaders((path) => {
      const file = join(stage, SHARE_PHP, path);
      return existsSync(file) ? readFileSync(file, 'utf8') : null;
    }, autoloaders);
    merged.classes.set('composer\\installedversions', '/Composer/InstalledVersions.php');
    writeFileSync(join(vendor, 'autoload_classmap.php'), renderClassMap(merged.classes));
    writeFileSync(join(vendor, 'autoload.php'), renderAutoload(merged.files, composer));
    if (required.includes('symfony/runtime')) {
      const template = readFileSync(
        join(vendor, 'Symfony', 'Component', 'Runtime', 'Internal', 'autoload_runtime.template'),
        'utf8',
      );
      writeFileSync(join(vendor, 'autoload_runtime.php'), renderAutoloadRuntime(template, composer));
    }
    writeFileSync(join(vendor, MANIFEST), manifest);
    const target = join(app, 'vendor');
    rmSync(target, { recursive: true, force: true });
    // A rename when the work directory is on the app's file system; a copy otherwise.
    try {
      renameSync(vendor, target);
    } catch {
      cpSync(vendor, target, { recursive: true, verbatimSymlinks: true });
    }
    progress(`${relative(process.cwd(), target) || target}: ${packages.length} packages`);
    return report;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The single-quoted absolute paths Debian's autoloaders (pkg-php-tools' phpab) require each other by. */
const ABSOLUTE_REQUIRE = /'\/usr\/share\/php\//g;

/**
 * Rewrites every `'/usr/share/php/…'` in the PHP files under `vendor` to the same file under `vendor`,
 * relative to the file that names it: `dirname(__DIR__, N).'/…'`. Fails if a `/usr/share/php/` path is left
 * in a form it does not know, rather than leave an app that works only where Debian's packages are installed.
 */
export function relocateAutoloaders(vendor: string): void {
  const left: string[] = [];
  const walk = (dir: string, depth: number) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path, depth + 1);
      else if (entry.isFile() && entry.name.endsWith('.php')) {
        const text = readFileSync(path, 'utf8');
        if (!text.includes(SHARE_PHP)) continue;
        const base = depth === 0 ? '__DIR__' : `dirname(__DIR__, ${depth})`;
        const relocated = text.replace(ABSOLUTE_REQUIRE, `${base}.'/`);
        if (relocated.includes(SHARE_PHP)) left.push(relative(vendor, path));
        writeFileSync(path, relocated);
      }
    }
  };
  walk(vendor, 0);
  if (left.length > 0) {
    throw new Error(
      `${left.join(', ')} still name ${SHARE_PHP} in a form scripts/frameworks.ts does not relocate`,
    );
  }
}

/** A package's top autoloader, relative to vendor/: the shortest `autoload.php` path it installs. */
function rootAutoloader(name: string, contents: readonly string[]): string {
  const found = contents
    .filter((p) => p.startsWith(SHARE_PHP) && p.endsWith('/autoload.php'))
    .map((p) => p.slice(SHARE_PHP.length))
    .sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b));
  if (found[0] === undefined) throw new Error(`Debian's ${name} installs no autoload.php under ${SHARE_PHP}`);
  return found[0];
}

/**
 * PHP extensions (`php8.4-intl` → `intl`) the packages' meta-packages (`php-intl`) pull in, but those built
 * into PHP itself (`json`).
 */
function extensionsNeeded(packages: readonly DebianPackage[]): string[] {
  const prefix = `php${RELEASE.php}-`;
  const builtIn = new Set<string>(BUILT_IN.map((m) => m.toLowerCase()));
  const names = new Set<string>();
  for (const p of packages) {
    for (const alternatives of p.depends) {
      const ext = alternatives.find((a) => a.startsWith(prefix))?.slice(prefix.length);
      if (ext !== undefined && !['cli', 'common', 'fpm', 'cgi'].includes(ext) && !builtIn.has(ext))
        names.add(ext);
    }
  }
  return [...names].sort();
}

/** One Debian `autoload.php` (pkg-php-tools' phpab template), read: paths are under /usr/share/php. */
export interface DebianAutoloader {
  /** The autoloaders it requires first. */
  requires: string[];
  /** Those it includes when they are installed (its package's "Suggests"). */
  suggests: string[];
  /** Lowercased class name → its file, as `/Vendor/Package/File.php` under /usr/share/php (or vendor/). */
  classes: [string, string][];
  /** Files it loads every time (functions). */
  files: string[];
}

/** The lines of phpab's template that carry nothing. */
const TEMPLATE_LINES = new Set([
  '<?php',
  '',
  'spl_autoload_register(',
  '    function($class) {',
  '        static $classes = null;',
  '        if ($classes === null) {',
  '            $classes = array(',
  '            );',
  '        }',
  '        $cn = strtolower($class);',
  '        if (isset($classes[$cn])) {',
  '            require __DIR__ . $classes[$cn];',
  '    },',
  '    true,',
  '    false',
  ');',
]);

/**
 * The lines of Debian's autoloaders that say something: an autoloader required (by its absolute path, or
 * relative to the file, as Symfony's packages write it), one suggested, a class, or a file required relative
 * to the autoloader (its Files section; Symfony's packages require other autoloaders that way too).
 */
const AUTOLOADER_LINE =
  /^(?:require_once '\/usr\/share\/php\/(?<require>[^']+)';|if \(stream_resolve_include_path\('\/usr\/share\/php\/(?<suggest>[^']+)'\)\) \{ include_once '[^']+'; \}|\s*'(?<name>[^']+)' => '(?<file>[^']+)',?|require_once __DIR__ ?\. ?'(?<relative>[^']+)';)$/;

/**
 * Reads a Debian `autoload.php` at `path` (relative to /usr/share/php). Fails on a line phpab does not write,
 * rather than leave out what it does.
 */
export function parseAutoloader(text: string, path: string): DebianAutoloader {
  const dir = path.slice(0, path.lastIndexOf('/'));
  const loader: DebianAutoloader = { requires: [], suggests: [], classes: [], files: [] };
  for (const line of text.split('\n')) {
    if (TEMPLATE_LINES.has(line) || line.startsWith('// ')) continue;
    const g = AUTOLOADER_LINE.exec(line)?.groups;
    if (g === undefined) throw new Error(`${SHARE_PHP}${path} has a line phpab does not write: ${line}`);
    if (g.require !== undefined) loader.requires.push(g.require);
    else if (g.suggest !== undefined) loader.suggests.push(g.suggest);
    // Class names are single-quoted PHP there: `\\` is one backslash.
    else if (g.name !== undefined) loader.classes.push([g.name.replaceAll('\\\\', '\\'), `/${dir}${g.file}`]);
    else {
      const target = posix.normalize(`${dir}${g.relative}`);
      if (target.endsWith('/autoload.php')) loader.requires.push(target);
      else loader.files.push(target);
    }
  }
  return loader;
}

/**
 * What Debian's autoloaders, required from `roots` on, register and load, in the order they would: each
 * one's requirements and installed suggestions first, depth first, each once, then its own classes (a class
 * two packages map keeps its first file) and files. `read` returns an autoloader's text, null when its package
 * is not installed.
 */
export function mergeAutoloaders(
  read: (path: string) => string | null,
  roots: readonly string[],
): { classes: Map<string, string>; files: string[] } {
  const classes = new Map<string, string>();
  const files: string[] = [];
  const seen = new Set<string>();
  const visit = (path: string, required: boolean) => {
    if (seen.has(path)) return;
    seen.add(path);
    const text = read(path);
    if (text === null) {
      if (required) throw new Error(`${SHARE_PHP}${path} is required but no package installed it`);
      return;
    }
    const loader = parseAutoloader(text, path);
    for (const r of loader.requires) visit(r, true);
    for (const s of loader.suggests) visit(s, false);
    for (const [name, file] of loader.classes) if (!classes.has(name)) classes.set(name, file);
    for (const file of loader.files) if (!files.includes(file)) files.push(file);
  };
  for (const root of roots) visit(root, true);
  return { classes, files };
}

/** vendor/autoload_classmap.php: lowercased class name → file under vendor/. */
export function renderClassMap(classes: ReadonlyMap<string, string>): string {
  const entries = [...classes].map(([name, file]) => `    ${phpString(name)} => ${phpString(file)},\n`);
  return `<?php

// Written by fpm-bridge's scripts/frameworks.ts: the classes of the Debian packages in this directory, from
// their autoloaders, for vendor/autoload.php. Regenerated with vendor/; do not edit.

return [
${entries.join('')}];
`;
}

/** A PHP single-quoted string literal. */
function phpString(s: string): string {
  return `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

/** A JSON value as a PHP literal, as var_export writes it (arrays short). */
function phpValue(v: unknown, indent = ''): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'string') return phpString(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  const inner = `${indent}  `;
  const entries = Array.isArray(v)
    ? v.map((x, i) => `${inner}${i} => ${phpValue(x, inner)},\n`)
    : Object.entries(v as Record<string, unknown>).map(
        ([k, x]) => `${inner}${phpString(k)} => ${phpValue(x, inner)},\n`,
      );
  return `[\n${entries.join('')}${indent}]`;
}

/** Paths of composer.json's `autoload`, as PHP expressions relative to vendor/autoload.php. */
function appPath(path: string): string {
  return `dirname(__DIR__).${phpString(`/${path.replace(/^\.\//, '')}`)}`;
}

/**
 * vendor/autoload.php: what Composer's does for an app whose dependencies are Debian's packages. One lookup
 * in one class map for a class, where Debian's own autoloaders, one per package, would each be asked in turn
 * (about 90 for Laravel: measured, that chain took a fifth of a request to Laravel's pages).
 */
export function renderAutoload(files: readonly string[], composer: ComposerJson): string {
  const psr4 = Object.entries(composer.autoload?.['psr-4'] ?? {}).map(([prefix, dirs]) => {
    const list = (Array.isArray(dirs) ? dirs : [dirs]).map((d) => appPath(d.endsWith('/') ? d : `${d}/`));
    return `        ${phpString(prefix)} => [${list.join(', ')}],\n`;
  });
  const appFiles = (composer.autoload?.files ?? []).map((f) => `require_once ${appPath(f)};\n`);
  return `<?php

// Written by fpm-bridge's scripts/frameworks.ts (npm run frameworks) in place of Composer's autoloader: the
// classes of the Debian packages in this directory (autoload_classmap.php, Composer's InstalledVersions among
// them) and the files their autoloaders load, then the app's "autoload" from composer.json. Regenerated with
// vendor/; do not edit.

spl_autoload_register((static function (): Closure {
    $classes = require __DIR__.'/autoload_classmap.php';
    $psr4 = [
${psr4.join('')}    ];

    return static function (string $class) use ($classes, $psr4): void {
        $file = $classes[strtolower($class)] ?? null;
        if ($file !== null) {
            require __DIR__.$file;
            return;
        }
        foreach ($psr4 as $prefix => $dirs) {
            if (strncmp($class, $prefix, strlen($prefix)) !== 0) {
                continue;
            }
            $file = strtr(substr($class, strlen($prefix)), '\\\\', '/').'.php';
            foreach ($dirs as $dir) {
                if (is_file($dir.$file)) {
                    require $dir.$file;
                    return;
                }
            }
        }
    };
})());

${[...files.map((f) => `require_once __DIR__.${phpString(`/${f}`)};\n`), ...appFiles].join('')}`;
}

/**
 * vendor/autoload_runtime.php from symfony/runtime's template, filled in as its Composer plugin
 * (Symfony\Component\Runtime\Internal\ComposerPlugin) fills it: the runtime class and options from
 * composer.json's `extra.runtime`, and the project directory.
 */
export function renderAutoloadRuntime(template: string, composer: ComposerJson): string {
  const { class: runtimeClass, autoload_template: _, ...options } = composer.extra?.runtime ?? {};
  const projectDir = 'dirname(__DIR__, 1)';
  const entries = Object.entries(options).map(([k, v]) => `  ${phpString(k)} => ${phpValue(v, '  ')},\n`);
  return template
    .replaceAll('%project_dir%', projectDir)
    .replaceAll(
      '%runtime_class%',
      phpString(
        typeof runtimeClass === 'string' ? runtimeClass : 'Symfony\\Component\\Runtime\\SymfonyRuntime',
      ),
    )
    .replaceAll('%runtime_options%', `[\n${entries.join('')}  'project_dir' => ${projectDir},\n]`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({
    options: { cache: { type: 'string' } },
    allowPositionals: true,
  });
  const root = dirname(dirname(new URL(import.meta.url).pathname));
  const apps = positionals.length > 0 ? positionals : EXAMPLE_APPS.map((a) => join(root, a));
  for (const app of apps) {
    const report = await installVendor(app, {
      cacheDir: values.cache,
      onProgress: (line) => process.stderr.write(`${line}\n`),
    });
    process.stdout.write(
      `${app}${sep}vendor: ${report.packages.length} Debian ${RELEASE.version} packages; PHP extensions they need: ${report.extensions.join(', ')}\n`,
    );
  }
}
