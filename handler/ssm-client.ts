/**
 * The GetParameters calls that resolve `ssm:` environment values (see ssm-env.ts). Bundled apart, as
 * `dist/handler-ssm.mjs` (scripts/build.mjs), with @aws-sdk/client-ssm inside: the handler imports it only
 * when a value names a parameter, so a function without one neither loads nor parses the SDK at cold start.
 * The SDK finds the region, the credentials and an endpoint (AWS_ENDPOINT_URL_SSM, AWS_ENDPOINT_URL) in the
 * environment, as on Lambda.
 */
import { GetParametersCommand, SSMClient } from '@aws-sdk/client-ssm';

/** GetParameters takes at most 10 names a call (SSM API reference, GetParameters, `Names`). */
export const NAMES_PER_CALL = 10;

/** What SSM answered: values by the names asked for (SecureStrings decrypted), and the region asked. */
export interface FetchedParameters {
  region: string;
  /** Keyed by each parameter's name and ARN, with its version or label selector as it was asked for. */
  values: Map<string, string>;
}

/**
 * Reads every parameter named, in one GetParameters call per 10 names, the calls side by side. Throws what
 * the SDK throws (no region, no credentials, access denied); a name SSM does not know is simply not in
 * `values`.
 *
 * @example
 *   const { values } = await getParameters(['/app/db-password', '/app/api-key'])
 */
export async function getParameters(names: readonly string[]): Promise<FetchedParameters> {
  const client = new SSMClient({});
  try {
    const region = await client.config.region();
    const calls: Promise<{
      Parameters?: { Name?: string; ARN?: string; Selector?: string; Value?: string }[];
    }>[] = [];
    for (let i = 0; i < names.length; i += NAMES_PER_CALL) {
      const batch = names.slice(i, i + NAMES_PER_CALL);
      calls.push(client.send(new GetParametersCommand({ Names: batch, WithDecryption: true })));
    }
    const values = new Map<string, string>();
    for (const answer of await Promise.all(calls)) {
      for (const p of answer.Parameters ?? []) {
        // SSM answers `/app/key` with Selector `:3` to a request for `/app/key:3`; a name given as an ARN
        // (a parameter shared from another account) is matched by the ARN.
        const selector = p.Selector ?? '';
        const value = p.Value ?? '';
        if (p.Name !== undefined) values.set(p.Name + selector, value);
        if (p.ARN !== undefined) values.set(p.ARN + selector, value);
      }
    }
    return { region, values };
  } finally {
    client.destroy();
  }
}
