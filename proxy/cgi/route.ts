import { realpathSync, type Stats, statSync } from 'node:fs';
import { basename } from 'node:path';
import { NotFoundError } from '../errors.ts';
import { DIRECTORY, FILE, FileCache, type FileKind, NOTHING } from './file-cache.ts';
import { printable } from './path.ts';

export interface RouteOptions {
  /** Absolute document root, without a trailing slash (`/` stays `/`). */
  docroot: string;
  /** Script for directory requests. */
  index: string;
  /** Script (relative to docroot) for paths that match nothing, or false for 404. */
  frontController: string | false;
  /** Every request runs the front controller, never another script. */
  frontControllerOnly: boolean;
  /** Splits a decoded path into SCRIPT_NAME (capture 1) and PATH_INFO (capture 2). */
  pathInfo: RegExp;
  /** File name endings that are run as scripts, e.g. ['.php']. */
  scriptExtensions: readonly string[];
  /** Look at the file system (try_files). Off: HAProxy fcgi-app semantics, for a remote php-fpm. */
  checkFiles: boolean;
  /** Existing non-script files are served as static files (else they go to the front controller). */
  staticFiles: boolean;
  /** Refuse files whose real path leaves the docroot through a symlink (nginx disable_symlinks). */
  symlinksWithinDocroot: boolean;
  /** ms a lookup in the docroot is remembered (see {@link FileCache}); 0 = look at every request. */
  fileCacheTtl: number;
}

export type Route =
  | {
      kind: 'script';
      scriptName: string;
      pathInfo: string;
      /** SCRIPT_FILENAME of a script outside the docroot (fpm-bridge's own PHP); else docroot + scriptName. */
      filename?: string;
    }
  | { kind: 'static'; filename: string; stats: Stats }
  | { kind: 'redirect'; location: string };

/**
 * Decides what a decoded, normalised path (see `decodePath`) runs or serves, the way nginx's
 * `try_files $uri $uri/ /index.php` and Caddy's `php_fastcgi` do, so Laravel, Symfony, WordPress and
 * DokuWiki run without settings:
 *
 * 1. `frontControllerOnly` → the front controller (Bref's mode; nothing uploaded can ever run).
 * 2. The path-info split names an existing script → that script, with PATH_INFO.
 * 3. An existing file → static file (never a file that looks like a script but was not split as one,
 *    e.g. `x.PHP`, and never a dotfile); a directory → its index (a redirect to add the slash first).
 * 4. Anything else → the front controller, or 404 when it is disabled.
 */
export class Router {
  private readonly frontRoute: Route | null;
  private readonly realDocroot: string;
  private readonly cache: FileCache | null;

  constructor(readonly options: RouteOptions) {
    this.cache = options.fileCacheTtl > 0 ? new FileCache(options.fileCacheTtl) : null;
    const fc = options.frontController;
    this.frontRoute =
      fc === false ? null : { kind: 'script', scriptName: `/${fc.replace(/^\/+/, '')}`, pathInfo: '' };
    this.realDocroot = options.symlinksWithinDocroot ? safeRealpath(options.docroot) : options.docroot;
  }

  /** `path` is decoded and normalised; `query` (raw, '' if none) only feeds redirects. */
  route(path: string, query: string): Route {
    const o = this.options;
    if (o.frontControllerOnly) return this.front(path);
    // Dotfiles and dot-directories (.git, .env, .hidden/x.php) are neither served nor run, nor handed to
    // the front controller: the hardening every nginx guide adds (`location ~ /\.(?!well-known)`).
    if (hasDotSegment(path)) {
      throw new NotFoundError(`"${printable(path)}" is not served: nothing under a dot-name is`);
    }
    const split = o.pathInfo.exec(path);
    const scriptName = split?.[1];
    if (scriptName !== undefined && this.isScript(scriptName)) {
      if (!o.checkFiles || this.isFile(scriptName)) {
        return { kind: 'script', scriptName, pathInfo: split![2] ?? '' };
      }
    }
    if (!o.checkFiles) {
      if (path.endsWith('/')) return { kind: 'script', scriptName: path + o.index, pathInfo: '' };
      return this.front(path);
    }
    const remembered = this.cache?.get(path);
    // Looked at now unless remembered; a static file is looked at now in any case (below).
    const looked = remembered === undefined ? this.stat(path) : undefined;
    const kind = remembered ?? this.remember(path, looked);
    if (kind === FILE) {
      if (this.looksLikeScript(path)) {
        throw new NotFoundError(
          `"${printable(path)}" is not served: scripts run only through the path-info split`,
        );
      }
      if (!o.staticFiles) return this.front(path);
      // Looked at now, not remembered: size, mtime and ETag must be the file's as it is sent.
      const stats = looked ?? this.stat(path);
      if (stats === undefined || !stats.isFile()) return this.front(path);
      const filename = this.filename(path);
      // A symlink is judged by what it points at too: `config.txt -> config.php` would serve PHP source.
      const target = basename(safeRealpath(filename));
      if (target.charCodeAt(0) === 0x2e || this.looksLikeScript(target)) {
        throw new NotFoundError(
          `"${printable(path)}" is not served: it is a symlink to a script or a dotfile (${printable(target)})`,
        );
      }
      return { kind: 'static', filename, stats };
    }
    if (kind === DIRECTORY) {
      const dir = path.endsWith('/') ? path : `${path}/`;
      const index = dir + o.index;
      if (this.isFile(index)) {
        if (dir !== path) {
          // Built from the normalised path, encoded again: the client's own form could start with `//`
          // (another host: an open redirect) once its `%2f..%2f` were resolved.
          const location = dir.split('/').map(encodeURIComponent).join('/');
          return { kind: 'redirect', location: query === '' ? location : `${location}?${query}` };
        }
        return { kind: 'script', scriptName: index, pathInfo: '' };
      }
    }
    return this.front(path);
  }

  /** Absolute file name for a docroot-relative path. */
  filename(path: string): string {
    return this.options.docroot === '/' ? path : this.options.docroot + path;
  }

  private front(path: string): Route {
    if (this.frontRoute === null) {
      throw new NotFoundError(`nothing at "${printable(path)}" and "frontController" is off`);
    }
    return this.frontRoute;
  }

  private isScript(name: string): boolean {
    for (const ext of this.options.scriptExtensions) if (name.endsWith(ext)) return true;
    return false;
  }

  private looksLikeScript(name: string): boolean {
    const lower = name.toLowerCase();
    for (const ext of this.options.scriptExtensions) if (lower.endsWith(ext.toLowerCase())) return true;
    return false;
  }

  private isFile(path: string): boolean {
    return this.kind(path) === FILE;
  }

  private kind(path: string): FileKind {
    return this.cache?.get(path) ?? this.remember(path, this.stat(path));
  }

  /** What `stats` (a look at `path` just made) says it names, remembered for the next requests. */
  private remember(path: string, stats: Stats | undefined): FileKind {
    const kind =
      stats === undefined ? NOTHING : stats.isFile() ? FILE : stats.isDirectory() ? DIRECTORY : NOTHING;
    this.cache?.set(path, kind);
    return kind;
  }

  private stat(path: string): Stats | undefined {
    const filename = this.filename(path);
    let stats: Stats | undefined;
    try {
      // Synchronous on purpose: a stat of a local file takes microseconds, far less than a thread-pool hop.
      stats = statSync(filename, { throwIfNoEntry: false });
    } catch (err) {
      // A path through a file (`/hello.txt/x`: ENOTDIR), a name longer than NAME_MAX or a symlink loop
      // names nothing, as for nginx's try_files; throwIfNoEntry only covers ENOENT.
      if (NO_ENTRY.has((err as NodeJS.ErrnoException).code ?? '')) return undefined;
      throw err;
    }
    if (stats === undefined || !this.options.symlinksWithinDocroot) return stats;
    const real = safeRealpath(filename);
    const root = this.realDocroot;
    return real === root || real.startsWith(root === '/' ? root : `${root}/`) ? stats : undefined;
  }
}

const NO_ENTRY = new Set(['ENOENT', 'ENOTDIR', 'ENAMETOOLONG', 'ELOOP']);

function hasDotSegment(path: string): boolean {
  let at = path.indexOf('/.');
  while (at >= 0) {
    if (!path.startsWith('/.well-known/', at)) return true;
    at = path.indexOf('/.', at + 2);
  }
  return false;
}

function safeRealpath(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}
