import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { LayerError, UsageError } from '../proxy/errors.ts';
import {
  DebianArchive,
  type DebianPackage,
  debContents,
  extractDebs,
  type LambdaArch,
  RELEASES,
  TRIPLET,
} from './debian.ts';
import { EM_AARCH64, EM_X86_64, parseExports, readElf, symbolBytes } from './elf.ts';
import { keepGconvModule } from './encodings.ts';
import {
  EXTENSIONS,
  type ExtensionSelection,
  extensionPackages,
  type LayerModule,
  layerModules,
  selectExtensions,
} from './extensions.ts';
import { filterIcuData, keepIcuItem } from './icu-data.ts';
import { collectLibraries, debianLibraryDirs, pluginDirs, resolveInRoot } from './libraries.ts';
import { phpFpmConf, phpIni } from './php-config.ts';
import { writeStandIn } from './stand-in.ts';
import { behaviourOf, chooseStandIns } from './stand-ins.ts';
import { type ZipEntry, zipParallel } from './zip.ts';

/** Lambda's limit on a function's unzipped code and layers together: 250 MB (262,144,000 bytes). */
export const LAMBDA_UNZIPPED_LIMIT = 262_144_000;
/** The ELF machine each Lambda architecture runs. */
const MACHINE: Readonly<Record<LambdaArch, number>> = { x86_64: EM_X86_64, arm64: EM_AARCH64 };
/** Where Lambda extracts layers; the binaries' loader and library paths are fixed to it. */
export const LAYER_PREFIX = '/opt';
/** The PHP versions a layer can carry, the default first. */
export const PHP_VERSIONS: readonly string[] = RELEASES.map((r) => r.php);

export interface LayerBuildOptions {
  /** Directory that receives `layer.zip`. */
  out: string;
  php: string;
  /** Extension names (`--extensions`); requirements are added. */
  extensions: readonly string[];
  arch: LambdaArch;
  /** Keeps the apt indexes and downloaded `.deb` files between builds (default ~/.cache/fpm-bridge/layer). */
  cacheDir?: string;
  /** Use only the package lists and `.deb` files in the cache (no network): rebuilds the last build's layer. */
  offline?: boolean;
  /** Unzipped size past which the build fails (default Lambda's 250 MB). */
  limit?: number;
  /** Progress lines. */
  onProgress?: (line: string) => void;
}

export interface LayerPart {
  name: string;
  files: number;
  bytes: number;
}

export interface LayerReport {
  zip: string;
  sha256: string;
  zipBytes: number;
  /** Unzipped size by part; `bytes` add up to `unzippedBytes`. */
  parts: LayerPart[];
  unzippedBytes: number;
  limit: number;
  arch: LambdaArch;
  php: string;
  /** Debian's version of the PHP packages, e.g. `8.4.28-1~deb13u1`. */
  phpPackageVersion: string;
  extensions: ExtensionSelection;
  /** Every extension module the layer loads (PHP's own and those of the chosen packages), sorted. */
  modules: string[];
  /** Libraries replaced by stand-ins or trimmed, and what is not there without them. */
  leftOut: { soname: string; without: string }[];
  /** Every Debian package the layer was made from, with its version: same list → same zip. */
  packages: { name: string; version: string }[];
}

/** Which part of the size report a layer path belongs to. */
function partOf(path: string): string {
  if (path.startsWith('bin/')) return 'bin (php, php-fpm)';
  if (path.startsWith('lib/php/extensions/')) return 'lib/php/extensions';
  if (/^lib\/[^/]+-linux-gnu\/gconv\//.test(path)) return 'lib/*/gconv (iconv character sets)';
  if (path.startsWith('lib/locale/')) return 'lib/locale (C.UTF-8)';
  if (path.startsWith('lib/')) return 'lib (shared libraries and loader)';
  if (path.startsWith('share/doc/')) return 'share/doc (copyright notices)';
  if (path.startsWith('share/zoneinfo/')) return 'share/zoneinfo (time zones)';
  if (path.startsWith('php/')) return 'php/*/{cli,fpm} (php.ini, conf.d, php-fpm.conf)';
  return 'share/fpm-bridge (manifest)';
}

function defaultCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return join(base, 'fpm-bridge', 'layer');
}

function run(file: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, args, (err, _stdout, stderr) => {
      if (err === null) return resolve();
      const hint =
        (err as NodeJS.ErrnoException).code === 'ENOENT' ? ` — install it: apt-get install ${file}` : '';
      reject(
        new LayerError(`${file} ${args.join(' ')} failed: ${stderr.trim() || err.message}${hint}`, {
          cause: err,
        }),
      );
    });
  });
}

/**
 * Replaces fixed paths compiled into a binary with paths in the layer, byte for byte. Each pair has the same
 * length, so string lengths the compiler folded in stay true and nothing else in the file moves. Every `from`
 * must occur at least once: a binary that no longer names the path would silently read the runtime's files.
 * Only leading path components may change: the linker stores a string that is the tail of another inside it
 * (`"cli"` in `"/etc/php/8.4/cli"`), so a changed tail changes that string too — `php_sapi_name()` answered
 * "8.4" once `/etc/php/8.4/cli` became `/opt/etc/php-8.4`.
 *
 * @example
 *   relocatePaths(php, 'bin/php', [['/usr/share/zoneinfo', '/opt/share/zoneinfo']])
 */
export function relocatePaths(
  binary: Buffer,
  name: string,
  pairs: readonly (readonly [from: string, to: string])[],
): Buffer {
  const out = Buffer.from(binary);
  for (const [from, to] of pairs) {
    const a = Buffer.from(from);
    const b = Buffer.from(to);
    if (a.length !== b.length) throw new LayerError(`cannot relocate ${from} to ${to}: lengths differ`);
    let same = a.length;
    while (same > 0 && a[same - 1] === b[same - 1]) same--;
    if (same > 0 && (same === a.length || from[same] !== '/'))
      throw new LayerError(`cannot relocate ${from} to ${to}: more than its leading path components differ`);
    let count = 0;
    for (let at = out.indexOf(a); at !== -1; at = out.indexOf(a, at + 1)) {
      b.copy(out, at);
      count++;
    }
    if (count === 0)
      throw new LayerError(`${name} does not name ${from}: cannot point it at the layer's ${to}`);
  }
  return out;
}

/**
 * Every regular file under `dir` (absolute, as packaged) in the extracted tree, as [path relative to `dir`,
 * host file] with symlinks resolved to copies (a zip for Lambda keeps no links), sorted; `skip` leaves out
 * top-level names.
 */
function treeFiles(stage: string, dir: string, skip: readonly string[] = []): [string, string][] {
  const out: [string, string][] = [];
  const walk = (rel: string) => {
    for (const entry of readdirSync(join(stage, dir, rel), { withFileTypes: true })) {
      const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (rel === '' && skip.includes(entry.name)) continue;
      if (entry.isDirectory()) {
        walk(path);
        continue;
      }
      const file = resolveInRoot(stage, `${dir}/${path}`);
      if (file !== null) out.push([path, file]);
    }
  };
  walk('');
  return out.sort((x, y) => (x[0] < y[0] ? -1 : 1));
}

/** ICU's data library, shipped with part of its data left out ({@link keepIcuItem}). */
const ICU_DATA = /^libicudata\.so\./;
const ICU_LEFT_OUT =
  "ICU's names of languages, regions and units, its word dictionaries for Chinese, Japanese and South-East Asian scripts, and its converters for rare encodings";

/** libicudata rebuilt with the items {@link keepIcuItem} accepts in its one data symbol, `icudtNN_dat`. */
function trimIcuData(file: string, soname: string, machine: number): Buffer {
  const bytes = readFileSync(file);
  const exports = parseExports(bytes, soname);
  const blob = exports.find((e) => /^icudt\d+_dat$/.test(e.name));
  if (blob === undefined) throw new LayerError(`${soname} exports no icudtNN_dat data`);
  const data = filterIcuData(symbolBytes(bytes, blob, soname), keepIcuItem);
  return writeStandIn({
    soname,
    machine,
    exports: exports.filter((e) => e !== blob),
    behaviour: { returns: 0 },
    data: { name: blob.name, bytes: data },
  });
}

/** `lib.so`, `lib.so.6`, `lib.so.1.2.3`. */
const SHARED_OBJECT = /\.so(\.\d+)*$/;

/** Where a path under /usr goes in the layer: the same length, so that it can replace it in a binary. */
function inLayer(path: string): string {
  return `${LAYER_PREFIX}${path.slice('/usr'.length)}`;
}

/**
 * The layer's ini directories (relative to /opt) of each SAPI: Debian's `/etc/php/8.4/cli` and `…/fpm` with
 * `/etc` moved to `/opt`, so that only the leading component of the compiled-in path changes.
 */
export function layerIniDir(php: string, sapi: 'cli' | 'fpm'): string {
  return `php/${php}/${sapi}`;
}

/**
 * Builds a Lambda layer from Debian's PHP packages (8.4 from Debian 13, 8.2 from Debian 12):
 *
 * ```
 *  /opt/bin/php, /opt/bin/php-fpm      Debian's binaries, loader and RPATH set to /opt/lib (patchelf)
 *  /opt/lib/ld-linux-*.so.*            Debian's dynamic loader: Amazon Linux 2023's glibc is older
 *  /opt/lib/*.so.*                     every library the binaries and extensions need (DT_NEEDED walk)
 *  /opt/lib/<triplet>/gconv/           glibc's character sets (iconv) of layer/encodings.ts; lib/locale its C.UTF-8
 *  /opt/lib/php/extensions/*.so        the chosen extensions only
 *  /opt/php/8.4/{cli,fpm}/php.ini      Lambda settings, and conf.d/*.ini one file per extension
 *  /opt/php/8.4/fpm/php-fpm.conf       for running php-fpm without fpm-bridge
 *  /opt/share/zoneinfo/                tzdata, which Debian's PHP reads instead of a bundled copy
 *  /opt/share/doc/<package>/copyright  the packages' licences
 *  /opt/share/fpm-bridge/layer.json    PHP version, arch, extensions, every package and its version
 * ```
 *
 * Writes `<out>/layer.zip` (reproducible: same packages → same bytes) and returns the size report. Throws a
 * {@link LayerError} when a package or library is missing, or past the unzipped size limit (nothing is
 * written then), and a {@link UsageError} for an unknown PHP version or extension (before any download).
 *
 * Why patchelf rather than a wrapper script that runs `ld.so --library-path /opt/lib php-fpm.real`: with the
 * loader as PT_INTERP the binaries are ordinary executables, so `/proc/self/exe`, `PHP_BINARY` and anything
 * PHP re-executes (`exec(PHP_BINARY …)`, Composer) start the same way, no shell is needed (the test sandbox
 * has none), and DT_RPATH (not RUNPATH) on the executable is searched before LD_LIBRARY_PATH — Lambda sets
 * that to /var/lang/lib:/lib64:/usr/lib64:…, whose older glibc must never be mixed with Debian's.
 *
 * Paths compiled into Debian's files that would otherwise reach into the runtime's /usr are rewritten to
 * the layer's copies ({@link relocatePaths}): PHP's time zone directory and glibc's gconv and locale
 * directories.
 */
export async function buildLayer(options: LayerBuildOptions): Promise<LayerReport> {
  const { php, arch } = options;
  const progress = options.onProgress ?? (() => {});
  const release = RELEASES.find((r) => r.php === php);
  if (release === undefined) {
    throw new UsageError(
      `--php ${php} is not offered — expected ${RELEASES.map((r) => `${r.php} (Debian ${r.version})`).join(' or ')}`,
    );
  }
  if (!(arch in TRIPLET)) throw new UsageError(`invalid --arch "${arch}" — expected x86_64 or arm64`);
  const selection = selectExtensions(options.extensions);
  const archive = new DebianArchive(
    join(options.cacheDir ?? defaultCacheDir(), `${release.codename}-${arch}`),
    release,
    arch,
    options.offline,
  );
  progress(
    `${options.offline ? 'reading' : 'updating'} the Debian ${release.version} ${arch} package lists in ${archive.dir}`,
  );
  await archive.update();
  // tzdata: Debian's PHP reads time zones from the system's zoneinfo instead of a bundled copy; libc-bin
  // holds glibc's C.UTF-8 locale (see assemble).
  const modulePackages = await extensionPackages(archive, php, selection.packages);
  const roots = [`php${php}-fpm`, `php${php}-cli`, `php${php}-common`, 'tzdata', 'libc-bin'];
  for (const name of selection.shared) roots.push(`php${php}-${EXTENSIONS[name]!.package}`);
  for (const name of modulePackages) roots.push(`php${php}-${name}`);
  // Only library packages are followed: PHP's other dependencies (ucf, procps, systemd, php-common) are
  // Debian integration. The DT_NEEDED walk below proves that nothing the binaries load was left out.
  const packages = await archive.closure(roots, (n) => n.startsWith('lib') || n === 'zlib1g');
  const debs = await archive.download(packages, progress);
  const work = mkdtempSync(join(tmpdir(), 'fpm-bridge-layer-'));
  try {
    const stage = join(work, 'stage');
    progress(`unpacking ${debs.length} packages`);
    await extractDebs(debs, stage);
    const debOf = new Map(packages.map((p, i) => [p.name, debs[i]!]));
    const contents = (pkg: string) => debContents(debOf.get(pkg)!);
    const modules = await layerModules(stage, php, selection.shared, modulePackages, (suffix) =>
      contents(`php${php}-${suffix}`),
    );
    return await assemble(options, stage, work, selection, modules, packages, contents, progress);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function assemble(
  options: LayerBuildOptions,
  stage: string,
  work: string,
  selection: ExtensionSelection,
  modules: readonly LayerModule[],
  packages: DebianPackage[],
  contents: (pkg: string) => Promise<string[]>,
  progress: (line: string) => void,
): Promise<LayerReport> {
  const { php, arch } = options;
  const triplet = TRIPLET[arch];
  const files = new Map<string, { data: Buffer; mode: number }>();
  const add = (path: string, data: Buffer | string, mode = 0o644) =>
    files.set(path, { data: Buffer.from(data), mode });
  // The extracted files the layer carries, whole or patched: their packages' licences go with them.
  const used = new Set<string>();
  const take = (file: string) => {
    used.add(file);
    return readFileSync(file);
  };
  const need = (path: string) => {
    const file = resolveInRoot(stage, path);
    if (file === null) throw new LayerError(`${path} is in none of the downloaded packages`);
    return file;
  };

  const apiDirs = readdirSync(join(stage, 'usr/lib/php')).filter((d) => /^\d{8}$/.test(d));
  if (apiDirs.length !== 1)
    throw new LayerError(`expected one PHP extension API dir in /usr/lib/php, found ${apiDirs.join(', ')}`);
  const extDir = `/usr/lib/php/${apiDirs[0]}`;
  const binaries = { 'bin/php-fpm': need(`/usr/sbin/php-fpm${php}`), 'bin/php': need(`/usr/bin/php${php}`) };
  const extensions = modules.map((m) => ({ ...m, file: need(`${extDir}/${m.name}.so`) }));
  progress('following the shared libraries the binaries and extensions need');
  const roots = [...Object.values(binaries), ...extensions.map((e) => e.file)];
  // The modules libraries load from directories of their own are walked too, until no new directory shows.
  let pluginFiles: string[] = [];
  let plugins: Map<string, string[]>;
  let chosen: ReturnType<typeof chooseStandIns>;
  for (;;) {
    const walked = [...roots, ...pluginFiles];
    chosen = chooseStandIns((leaves) =>
      collectLibraries(stage, walked, debianLibraryDirs(triplet), MACHINE[arch], leaves),
    );
    const real = [...chosen.closure.libraries].filter(([soname]) => !chosen.standIns.has(soname));
    plugins = pluginDirs(stage, triplet, new Map(real));
    const found = [...plugins.keys()].flatMap((dir) =>
      treeFiles(stage, dir)
        .filter(([name]) => SHARED_OBJECT.test(name))
        .map(([, file]) => file),
    );
    if (found.length === pluginFiles.length) break;
    pluginFiles = found;
  }
  const {
    closure: { libraries, loader },
    standIns,
  } = chosen;

  // The loader and RPATH are absolute: Lambda always extracts layers to /opt.
  const patched = join(work, 'patched');
  mkdirSync(patched);
  const patchelf = async (source: string, args: readonly string[]) => {
    const copy = join(patched, source.replaceAll('/', '_'));
    used.add(source);
    copyFileSync(source, copy);
    await run('patchelf', [...args, copy]);
    return readFileSync(copy);
  };
  // Debian's php looks for its php.ini and conf.d in /etc/php/8.4/cli, php-fpm in /etc/php/8.4/fpm (also
  // where it finds php-fpm.conf): both are pointed at /opt/php/8.4/…, so PHP started with no environment at
  // all reads the layer's settings and loads its extensions.
  for (const [path, source] of Object.entries(binaries)) {
    const rpath = ['--set-interpreter', `${LAYER_PREFIX}/lib/${loader.name}`, '--force-rpath'];
    const data = await patchelf(source, [...rpath, '--set-rpath', `${LAYER_PREFIX}/lib`]);
    const pairs: [string, string][] = [
      ['/usr/share/zoneinfo', `${LAYER_PREFIX}/share/zoneinfo`],
      [`/etc/php/${php}/`, `${LAYER_PREFIX}/php/${php}/`],
    ];
    // Debian builds php-fpm.conf's path from "/etc" at run time; the format becomes the path itself.
    if (path === 'bin/php-fpm')
      pairs.push([
        '%s/php/%d.%d/fpm/php-fpm.conf',
        `${LAYER_PREFIX}/${layerIniDir(php, 'fpm')}/php-fpm.conf`,
      ]);
    add(path, relocatePaths(data, path, pairs), 0o755);
  }
  add(`lib/${loader.name}`, take(loader.file), 0o755);
  // glibc finds its character set modules and locales in fixed directories under /usr/lib (GCONV_PATH and
  // LOCPATH could move them, but only for processes that inherit those variables).
  const gconv = `/usr/lib/${triplet}/gconv`;
  const glibc: [string, string][] = [
    [gconv, `${LAYER_PREFIX}/lib/${triplet}/gconv`],
    ['/usr/lib/locale', `${LAYER_PREFIX}/lib/locale`],
  ];
  const leftOut = [...standIns].map(([soname, rule]) => ({ soname, without: rule.without }));
  const standInIni: string[] = [];
  for (const [soname, file] of libraries) {
    if (ICU_DATA.test(soname)) {
      used.add(file);
      add(`lib/${soname}`, trimIcuData(file, soname, MACHINE[arch]));
      leftOut.push({ soname, without: ICU_LEFT_OUT });
      continue;
    }
    const standIn = standIns.get(soname);
    if (standIn !== undefined) {
      const exports = parseExports(readFileSync(file), soname);
      if (standIn.ini !== undefined) standInIni.push(standIn.ini);
      const behaviour = behaviourOf(standIn, soname);
      add(`lib/${soname}`, writeStandIn({ soname, machine: MACHINE[arch], exports, behaviour }));
      continue;
    }
    // A library's own DT_RUNPATH would make the loader skip the executable's RPATH for what that library
    // needs, and search LD_LIBRARY_PATH (the runtime's libraries) first: remove it, all of them are in /opt/lib.
    const info = readElf(file);
    let data: Buffer =
      info.rpath === null && info.runpath === null ? take(file) : await patchelf(file, ['--remove-rpath']);
    if (soname === 'libc.so.6') data = relocatePaths(data, `lib/${soname}`, glibc);
    // By the directory's first component under lib/<triplet>: what follows may be spelled with `//`.
    const top = (dir: string) => dir.split('/').slice(0, 5).join('/');
    const named = new Set(
      [...plugins].filter(([, namers]) => namers.includes(soname)).map(([dir]) => top(dir)),
    );
    if (named.size > 0)
      data = relocatePaths(
        data,
        `lib/${soname}`,
        [...named].map((d) => [d, inLayer(d)]),
      );
    add(`lib/${soname}`, data);
  }
  // Module directories keep their place under lib/<triplet>, the paths naming them are pointed there.
  for (const dir of plugins.keys()) {
    for (const [name, file] of treeFiles(stage, dir)) {
      const info = SHARED_OBJECT.test(name) ? readElf(file) : null;
      const data =
        info === null || (info.rpath === null && info.runpath === null)
          ? take(file)
          : await patchelf(file, ['--remove-rpath']);
      add(`${inLayer(dir).slice(LAYER_PREFIX.length + 1)}/${name}`, data);
    }
  }
  // The character sets of layer/encodings.ts, and the helpers (libJIS.so, …) they load; the modules keep
  // their RUNPATH $ORIGIN, by which they find those beside them.
  const charsets = treeFiles(stage, gconv);
  const kept = new Set(charsets.map(([name]) => name).filter(keepGconvModule));
  for (const [name, file] of charsets) {
    if (!kept.has(name) || !name.endsWith('.so')) continue;
    for (const helper of readElf(file).needed) if (charsets.some(([n]) => n === helper)) kept.add(helper);
  }
  for (const [name, file] of charsets) {
    if (!kept.has(name)) continue;
    // iconvconfig wrote the modules' absolute paths into the cache.
    const data =
      name === 'gconv-modules.cache' ? relocatePaths(take(file), name, glibc.slice(0, 1)) : take(file);
    add(`lib/${triplet}/gconv/${name}`, data);
  }
  for (const [name, file] of treeFiles(stage, '/usr/lib/locale/C.utf8'))
    add(`lib/locale/C.utf8/${name}`, take(file));
  for (const e of extensions) add(`lib/php/extensions/${e.name}.so`, take(e.file));

  // PHP never reads the `right/` and `posix/` variants.
  const zones = treeFiles(stage, '/usr/share/zoneinfo', ['right', 'posix']);
  if (!zones.some(([name]) => name === 'zone.tab')) throw new LayerError('tzdata holds no zone.tab');
  for (const [name, file] of zones) add(`share/zoneinfo/${name}`, take(file));

  // The same settings for both SAPIs, as Debian installs them.
  for (const sapi of ['cli', 'fpm'] as const) {
    const dir = layerIniDir(php, sapi);
    add(`${dir}/php.ini`, phpIni(php));
    for (const m of modules) {
      const directive = m.zend ? 'zend_extension' : 'extension';
      const ini = `; ${EXTENSIONS[m.name]?.module ?? m.name}, from Debian's php${php}-${m.package}\n${directive}=${m.name}\n`;
      add(`${dir}/conf.d/${m.priority}-${m.name}.ini`, ini);
    }
    if (standInIni.length > 0) add(`${dir}/conf.d/00-left-out.ini`, standInIni.join(''));
  }
  add(`${layerIniDir(php, 'fpm')}/php-fpm.conf`, phpFpmConf(php));
  // Only the licences of packages the layer carries a file of: a stand-in holds none of its library's code.
  for (const p of packages) {
    const copyright = resolveInRoot(stage, `/usr/share/doc/${p.name}/copyright`);
    if (copyright === null) continue;
    if ((await contents(p.name)).some((path) => used.has(join(stage, path))))
      add(`share/doc/${p.name}/copyright`, readFileSync(copyright));
  }
  const phpPackageVersion = packages.find((p) => p.name === `php${php}-fpm`)!.version;
  leftOut.sort((a, b) => (a.soname < b.soname ? -1 : 1));
  const manifest = {
    php,
    phpPackageVersion,
    arch,
    extensions: modules.map((m) => m.name),
    leftOut,
    packages: packages.map((p) => ({ name: p.name, version: p.version })),
  };
  add('share/fpm-bridge/layer.json', `${JSON.stringify(manifest, null, 2)}\n`);

  const parts = new Map<string, LayerPart>();
  let unzippedBytes = 0;
  for (const [path, f] of files) {
    const part = parts.get(partOf(path)) ?? { name: partOf(path), files: 0, bytes: 0 };
    part.files++;
    part.bytes += f.data.length;
    parts.set(part.name, part);
    unzippedBytes += f.data.length;
  }
  const limit = options.limit ?? LAMBDA_UNZIPPED_LIMIT;
  if (unzippedBytes > limit) {
    throw new LayerError(
      `the layer would be ${size(unzippedBytes)} unzipped, over the limit of ${size(limit)} — Lambda allows ${size(LAMBDA_UNZIPPED_LIMIT)} for a function and all its layers together; choose fewer --extensions`,
    );
  }

  const entries: ZipEntry[] = [];
  const dirs = new Set<string>();
  for (const [path, f] of files) {
    entries.push({ name: path, data: f.data, mode: f.mode });
    for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) dirs.add(path.slice(0, i + 1));
  }
  for (const d of dirs) entries.push({ name: d, mode: 0o755 });
  progress(`compressing ${files.size} files into layer.zip`);
  const bytes = await zipParallel(entries);
  mkdirSync(options.out, { recursive: true });
  const zipPath = join(options.out, 'layer.zip');
  // Renamed into place: a build that fails or is interrupted never leaves half a zip to publish.
  writeFileSync(`${zipPath}.partial`, bytes);
  renameSync(`${zipPath}.partial`, zipPath);
  return {
    zip: zipPath,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    zipBytes: bytes.length,
    parts: [...parts.values()].sort((a, b) => b.bytes - a.bytes),
    unzippedBytes,
    limit,
    arch,
    php,
    phpPackageVersion,
    extensions: selection,
    modules: modules.map((m) => m.name),
    leftOut,
    packages: manifest.packages,
  };
}

/** `135.4 MiB (141,987,654 bytes)`: MiB as Lambda counts its limits (250 MB = 262,144,000 bytes). */
function size(bytes: number): string {
  return `${mib(bytes)} (${bytes.toLocaleString('en-US')} bytes)`;
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** The size report `fpm-bridge layer build` prints. */
export function formatReport(r: LayerReport): string {
  const width = Math.max(...r.parts.map((p) => p.name.length), 'total unzipped'.length);
  const share = ((r.unzippedBytes / LAMBDA_UNZIPPED_LIMIT) * 100).toFixed(0);
  const extra = r.extensions.builtIn.map((n) => `${n} (built in)`);
  const lines = [
    `PHP ${r.php} (Debian ${r.phpPackageVersion}) layer for ${r.arch}`,
    `extensions: ${[...r.modules, ...extra].join(', ')}`,
    ...r.leftOut.map((s) => `left out of ${s.soname}: ${s.without}`),
    ...r.parts.map(
      (p) => `  ${p.name.padEnd(width)}  ${mib(p.bytes).padStart(10)}  ${String(p.files).padStart(4)} files`,
    ),
    `  ${'total unzipped'.padEnd(width)}  ${mib(r.unzippedBytes).padStart(10)}  ${share}% of Lambda's 250 MB for the function and all its layers`,
    `${r.zip}: ${mib(r.zipBytes)} zipped`,
    `sha256 ${r.sha256}`,
  ];
  return `${lines.join('\n')}\n`;
}
