import { BlockList, isIP } from 'node:net';
import { ConfigError } from '../proxy/errors.ts';
import { listItems } from '../proxy/header-fields.ts';

/** What a trusted proxy said about the original request. */
export interface Forwarded {
  remoteAddress: string;
  https: boolean;
  port: number | null;
  host: string | null;
}

/**
 * The proxies in front of `fpm-bridge serve` whose X-Forwarded-* headers are believed (a load balancer,
 * CloudFront, an ingress). From anyone else those headers are only passed on to PHP as HTTP_X_FORWARDED_*,
 * never used: a client must not be able to claim another address or HTTPS.
 *
 * @example new TrustedProxies(['10.0.0.0/8', '127.0.0.1'])
 */
export class TrustedProxies {
  private readonly list = new BlockList();
  readonly empty: boolean;

  constructor(entries: readonly string[]) {
    this.empty = entries.length === 0;
    for (const entry of entries) {
      const [address, bits] = entry.split('/');
      const family = isIP(address ?? '');
      const prefix = bits === undefined ? (family === 6 ? 128 : 32) : Number(bits);
      if (family === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) {
        throw new ConfigError(
          `invalid "trustedProxies" entry "${entry}" — expected an IP address or CIDR, e.g. 10.0.0.0/8`,
        );
      }
      this.list.addSubnet(address!, prefix, family === 6 ? 'ipv6' : 'ipv4');
    }
  }

  trusts(address: string): boolean {
    if (this.empty || address === '') return false;
    const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
    return this.list.check(v4, isIP(v4) === 6 ? 'ipv6' : 'ipv4');
  }

  /**
   * The original client as the trusted chain reports it: the right-most X-Forwarded-For entry that is not
   * itself a trusted proxy (entries left of it could be forged by the client; an entry that is no IP
   * address ends the walk, leaving the last trusted hop), and the scheme, port and host from the right-most
   * value of their headers — the one the trusted proxy next to us set; a proxy that appends rather than
   * replaces would otherwise let the client choose them. Returns null when `peer` is not trusted.
   * `header` gives a request header's value by lower-case name, repeats joined with commas.
   */
  resolve(peer: string, header: (lower: string) => string | undefined): Forwarded | null {
    if (!this.trusts(peer)) return null;
    const chain = listItems(header('x-forwarded-for'));
    let client = peer;
    for (let i = chain.length - 1; i >= 0; i--) {
      if (isIP(chain[i]!) === 0) break;
      client = chain[i]!;
      if (!this.trusts(client)) break;
    }
    const last = (name: string) => listItems(header(name)).at(-1) ?? null;
    const proto = last('x-forwarded-proto');
    const port = last('x-forwarded-port');
    return {
      remoteAddress: client,
      https: proto === 'https',
      port:
        port !== null && /^\d{1,5}$/.test(port)
          ? Number(port)
          : proto === null
            ? null
            : proto === 'https'
              ? 443
              : 80,
      host: last('x-forwarded-host'),
    };
  }
}
