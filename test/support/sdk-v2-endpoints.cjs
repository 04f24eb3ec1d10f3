// Preloaded (node --require) into Serverless Framework v3 by test/e2e/deploy.test.ts: its AWS SDK v2 ignores
// AWS_ENDPOINT_URL, which osls and fpm-bridge's own SDK v3 clients honour, so every v2 client is pointed
// at it here. Path-style S3, as the endpoint is an IP address.
const { dirname } = require('node:path');

const v3 = dirname(require.resolve('serverless-v3/package.json'));
const AWS = require(require.resolve('aws-sdk', { paths: [v3] }));
AWS.config.update({ endpoint: process.env.AWS_ENDPOINT_URL, s3ForcePathStyle: true });
