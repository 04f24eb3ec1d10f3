// For tests of the CLI's AWS commands: an environment with no AWS region or credentials anywhere, and a
// local HTTP endpoint that records what reaches it, to prove that nothing was sent.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Environment overrides for a child CLI process that leave the AWS SDK no region and no credentials: every
 * AWS_* variable the caller's shell may hold is unset (undefined is left out by `spawn`), the shared config
 * and credentials files point into `home` (an empty temp dir), and the EC2 instance metadata lookup is off.
 * `endpoint` receives whatever the SDK would still send, Lambda API calls and metadata lookups alike.
 */
export function noAwsEnv(home: string, endpoint: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const key of Object.keys(process.env)) if (key.startsWith('AWS_')) env[key] = undefined;
  return {
    ...env,
    HOME: home,
    AWS_CONFIG_FILE: `${home}/config`,
    AWS_SHARED_CREDENTIALS_FILE: `${home}/credentials`,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_EC2_METADATA_SERVICE_ENDPOINT: endpoint,
    AWS_ENDPOINT_URL: endpoint,
  };
}

export interface RequestRecorder {
  url: string;
  /** `METHOD path` of every request received so far. */
  requests: string[];
  close(): Promise<void>;
}

/** An HTTP server on a free loopback port that answers 500 to everything and remembers what it got. */
export function recordRequests(): Promise<RequestRecorder> {
  const requests: string[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.writeHead(500).end();
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        requests,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
  });
}
