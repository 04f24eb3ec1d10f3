/** What a docroot path names, as far as routing cares: a regular file, a directory, or nothing it can use. */
export type FileKind = typeof NOTHING | typeof FILE | typeof DIRECTORY;
export const NOTHING = 0;
export const FILE = 1;
export const DIRECTORY = 2;

/**
 * Past this many entries, or this many characters of paths in all, the map is dropped at once: a flood of
 * distinct (or 16 KiB-long) paths holds a few MiB at most.
 */
const MAX_ENTRIES = 10_000;
const MAX_CHARS = 2 * 1024 * 1024;

/**
 * Remembers what docroot paths named for at most `ttl` ms, so a hot script or a front controller's miss costs
 * a Map lookup instead of a stat() (and, with `symlinks: within-docroot`, a realpath()) per request — on a
 * small VM that system call was a fifth of the proxy's CPU per request. nginx's `open_file_cache` does the
 * same, and PHP's own realpath cache keeps paths for 120 s by default, so the file system was never
 * consulted live at every request anyway. The whole map is dropped every `ttl` ms rather than aging each
 * entry: no expiry per entry to store or check, and no entry lives longer than `ttl`.
 */
export class FileCache {
  private readonly kinds = new Map<string, FileKind>();
  private clearsAt = 0;
  private chars = 0;

  constructor(private readonly ttl: number) {}

  get(path: string): FileKind | undefined {
    const now = performance.now();
    if (now >= this.clearsAt) {
      this.clear();
      this.clearsAt = now + this.ttl;
      return undefined;
    }
    return this.kinds.get(path);
  }

  set(path: string, kind: FileKind): void {
    if (this.kinds.size >= MAX_ENTRIES || this.chars + path.length > MAX_CHARS) this.clear();
    this.kinds.set(path, kind);
    this.chars += path.length;
  }

  /** Entries and characters held, for the tests. */
  get size(): { entries: number; chars: number } {
    return { entries: this.kinds.size, chars: this.chars };
  }

  private clear(): void {
    this.kinds.clear();
    this.chars = 0;
  }
}
