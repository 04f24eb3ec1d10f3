import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { basename, join, posix } from 'node:path';
import { LayerError } from '../proxy/errors.ts';
import { readElf } from './elf.ts';

/** Top-level directories that are links into /usr on a merged-/usr system. */
const MERGED_USR = new Set(['bin', 'sbin', 'lib', 'lib64']);

/**
 * Resolves `path` (absolute, as the package sees it) inside the extracted tree `root`, following symlinks as
 * if `root` were `/`: Debian's links are often absolute (`/lib64/ld-linux-x86-64.so.2` →
 * `/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2`) and must not escape to the host's files. Returns the host
 * path of the regular file, or null when nothing is there.
 */
export function resolveInRoot(root: string, path: string): string | null {
  let current = posix.normalize(path);
  for (let hops = 0; hops < 40; hops++) {
    // Resolve the directories first (bookworm's packages use /lib and /usr/lib interchangeably).
    const parts = current.split('/').filter((p) => p !== '');
    let resolved = '/';
    let restarted = false;
    for (let i = 0; i < parts.length; i++) {
      const candidate = posix.join(resolved, parts[i]!);
      let stat: ReturnType<typeof lstatSync>;
      try {
        stat = lstatSync(join(root, candidate));
      } catch {
        // Debian 13 is merged-/usr: /lib is a link to /usr/lib made at install time, which no package ships.
        if (i !== 0 || !MERGED_USR.has(parts[0]!)) return null;
        current = `/usr${current}`;
        restarted = true;
        break;
      }
      if (stat.isSymbolicLink()) {
        const target = readlinkSync(join(root, candidate));
        const rest = parts.slice(i + 1).join('/');
        const base = target.startsWith('/') ? target : posix.join(posix.dirname(candidate), target);
        current = posix.normalize(rest === '' ? base : `${base}/${rest}`);
        restarted = true;
        break;
      }
      resolved = candidate;
    }
    if (!restarted) return lstatSync(join(root, resolved)).isFile() ? join(root, resolved) : null;
  }
  throw new LayerError(`too many symlinks resolving ${path} under ${root}`);
}

export interface LibraryClosure {
  /** soname → file in the extracted tree holding it, every library the roots need, directly or not. */
  libraries: Map<string, string>;
  /** soname → the names of the files that need it (binaries by file name, libraries by soname). */
  consumers: Map<string, Set<string>>;
  /** The dynamic loader the executables name (PT_INTERP), as a file in the extracted tree. */
  loader: { name: string; file: string };
}

/**
 * Walks DT_NEEDED from `roots` (executables and extensions) breadth-first, the way ld.so does, finding each
 * soname in `searchDirs` (absolute paths as the packages install them) inside the extracted tree `root`, each
 * built for `machine` (ELF e_machine). The sonames in `leaves` are found but not walked into: what only they
 * need is left out.
 * Every soname must be found there — not on the host — or the build fails naming it and who needs it:
 * the layer must run on a system that has none of these libraries.
 */
export function collectLibraries(
  root: string,
  roots: readonly string[],
  searchDirs: readonly string[],
  machine: number,
  leaves: ReadonlySet<string> = new Set(),
): LibraryClosure {
  const libraries = new Map<string, string>();
  const consumers = new Map<string, Set<string>>();
  let loader: { name: string; file: string } | null = null;
  const queue: { file: string; label: string }[] = roots.map((file) => ({ file, label: basename(file) }));
  const missing: string[] = [];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    const info = readElf(next.file);
    if (info.machine !== machine) {
      throw new LayerError(`${next.label} is built for ELF machine ${info.machine}, not ${machine}`);
    }
    if (info.interpreter !== null && loader === null) {
      const file = resolveInRoot(root, info.interpreter);
      if (file === null)
        throw new LayerError(`the loader ${info.interpreter} that ${next.label} names is in no package`);
      loader = { name: posix.basename(info.interpreter), file };
    }
    for (const soname of info.needed) {
      const needers = consumers.get(soname) ?? new Set();
      needers.add(next.label);
      consumers.set(soname, needers);
      if (libraries.has(soname)) continue;
      const file = searchDirs.map((d) => resolveInRoot(root, posix.join(d, soname))).find((f) => f !== null);
      if (file === undefined || file === null) {
        missing.push(`${soname} (needed by ${next.label})`);
        continue;
      }
      libraries.set(soname, file);
      if (!leaves.has(soname)) queue.push({ file, label: soname });
    }
  }
  if (missing.length > 0) {
    throw new LayerError(
      `shared libraries in no downloaded package: ${missing.join(', ')} — the package holding them is not a dependency fpm-bridge follows`,
    );
  }
  if (loader === null)
    throw new LayerError(`none of ${roots.map((r) => basename(r)).join(', ')} names a dynamic loader`);
  // libc names the loader as DT_NEEDED too; the loader is shipped under its own name either way.
  libraries.delete(loader.name);
  consumers.delete(loader.name);
  return { libraries, consumers, loader };
}

/** The directories Debian's loader searches, in its order, for one multiarch triplet. */
export function debianLibraryDirs(triplet: string): string[] {
  return [`/lib/${triplet}`, `/usr/lib/${triplet}`, '/lib', '/usr/lib'];
}

/**
 * Directories of modules that the libraries in `files` load with dlopen() from a path compiled into them —
 * ImageMagick's coders, libheif's plugins, Cyrus SASL's mechanisms: every `/usr/lib/<triplet>/<dir>` such a
 * library names that holds shared objects in the extracted tree `root` (glibc's gconv, which the build
 * handles itself, aside). Returns the directory of each (absolute, as packaged) with the libraries naming it.
 */
export function pluginDirs(
  root: string,
  triplet: string,
  files: ReadonlyMap<string, string>,
): Map<string, string[]> {
  const prefix = Buffer.from(`/usr/lib/${triplet}/`);
  const out = new Map<string, string[]>();
  for (const [soname, file] of files) {
    const bytes = readFileSync(file);
    for (let at = bytes.indexOf(prefix); at !== -1; at = bytes.indexOf(prefix, at + 1)) {
      // The longest directory of the named path that exists in the tree: `…/coders` of `…/coders/%s.la`.
      let path = posix.normalize(bytes.toString('latin1', at, bytes.indexOf(0, at)));
      while (path.length > prefix.length && !isDirIn(root, path)) path = posix.dirname(path);
      if (path.length <= prefix.length || path.endsWith('/gconv') || !holdsSharedObjects(join(root, path)))
        continue;
      const namers = out.get(path) ?? [];
      if (!namers.includes(soname)) namers.push(soname);
      out.set(path, namers);
    }
  }
  // A directory inside another one found is part of it, and so are the libraries naming it.
  for (const [dir, namers] of out) {
    const parent = [...out.keys()].find((d) => d !== dir && dir.startsWith(`${d}/`));
    if (parent === undefined) continue;
    out.get(parent)!.push(...namers.filter((n) => !out.get(parent)!.includes(n)));
    out.delete(dir);
  }
  return out;
}

function isDirIn(root: string, path: string): boolean {
  try {
    return lstatSync(join(root, path)).isDirectory();
  } catch {
    return false;
  }
}

function holdsSharedObjects(dir: string): boolean {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).some(
    (e) => e.isFile() && /\.so(\.\d+)*$/.test(e.name),
  );
}
