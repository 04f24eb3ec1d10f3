import type { NetConnectOpts } from 'node:net';
import { ConfigError } from '../errors.ts';

/** Where a FastCGI server listens: a Unix socket path or a TCP host and port. */
export type FcgiAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/**
 * Parses `unix:/path/to.sock`, a bare absolute path, `tcp://host:port`, `host:port` or `[::1]:9000`.
 *
 * @example parseAddress('unix:/run/php/php-fpm.sock') // { kind: 'unix', path: '/run/php/php-fpm.sock' }
 */
export function parseAddress(text: string, setting = 'fpm'): FcgiAddress {
  const bad = () =>
    new ConfigError(
      `invalid "${setting}" address "${text}" — expected unix:/path/to.sock or tcp://host:port (or "spawn")`,
    );
  if (text.startsWith('unix:')) {
    const path = text.slice(5);
    if (!path.startsWith('/')) throw bad();
    return { kind: 'unix', path };
  }
  if (text.startsWith('/')) return { kind: 'unix', path: text };
  const hostPort = text.startsWith('tcp://') ? text.slice(6) : text;
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(hostPort);
  if (m === null) throw bad();
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw bad();
  return { kind: 'tcp', host: m[1] ?? m[2]!, port };
}

export function formatAddress(address: FcgiAddress): string {
  if (address.kind === 'unix') return `unix:${address.path}`;
  return address.host.includes(':')
    ? `tcp://[${address.host}]:${address.port}`
    : `tcp://${address.host}:${address.port}`;
}

export function connectOptions(address: FcgiAddress): NetConnectOpts {
  return address.kind === 'unix' ? { path: address.path } : { host: address.host, port: address.port };
}
