/**
 * The CDK app: one stack, FpmBridge (infra/cdk/service-stack.ts).
 *
 *   npx tsx infra/cdk/app.ts                                    # synthesize into cdk.out, offline
 *   npx aws-cdk@2 deploy --app "npx tsx infra/cdk/app.ts"       # build the image, deploy (AWS credentials)
 *   npx aws-cdk@2 deploy --app "npx tsx infra/cdk/app.ts" -c image=REGISTRY/REPO:TAG   # a pushed image
 */
import { App } from 'aws-cdk-lib';
import { ContainerImage } from 'aws-cdk-lib/aws-ecs';
import { dockerfileImage, FpmBridgeServiceStack } from './service-stack.ts';

const app = new App({
  // The CDK CLI names the output directory in CDK_OUTDIR; run on its own, the app writes ./cdk.out.
  outdir: process.env.CDK_OUTDIR ?? 'cdk.out',
  // The template must pass the CloudFormation Validate rules the CDK checks at every synthesis (schema, best
  // practices): a finding fails synthesis instead of printing a warning.
  context: { '@aws-cdk/core:validateAgainstDefaultRules': true },
});
const image: unknown = app.node.tryGetContext('image');
new FpmBridgeServiceStack(app, 'FpmBridge', {
  image: typeof image === 'string' ? ContainerImage.fromRegistry(image) : dockerfileImage(),
});
app.synth();
