/**
 * The CDK app's stack (infra/cdk/service-stack.ts), synthesized in this process into a temporary directory,
 * offline and without Docker, and checked on its CloudFormation template and its image asset.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { AssetManifest } from 'aws-cdk-lib/cloud-assembly-schema';
import {
  CONTAINER_PORT,
  dockerfileImage,
  FpmBridgeServiceStack,
  HEALTH_COMMAND,
  HEALTH_PATH,
} from '../../infra/cdk/service-stack.ts';
import { ROOT } from '../support/cli.ts';

describe('the CDK app: fpm-bridge on ECS Fargate behind an Application Load Balancer', () => {
  let outdir: string;
  let template: Template;

  before(() => {
    outdir = mkdtempSync(join(tmpdir(), 'fpm-bridge-cdk-'));
    // Without the CloudFormation Validate pass (a WebAssembly linter) that infra/cdk/app.ts runs: it costs
    // about 10 s of CPU per synthesis, four times the rest of this file.
    const app = new App({ outdir, builtinCloudFormationValidation: false });
    const stack = new FpmBridgeServiceStack(app, 'FpmBridge', { image: dockerfileImage() });
    template = Template.fromStack(stack);
  });
  after(() => rmSync(outdir, { recursive: true, force: true }));

  it('runs two Fargate tasks at first, starting new ones before stopping old, rolling back a failed deployment', () => {
    template.resourceCountIs('AWS::ECS::Service', 1);
    template.hasResourceProperties('AWS::ECS::Service', {
      LaunchType: 'FARGATE',
      DesiredCount: 2,
      HealthCheckGracePeriodSeconds: 30,
      DeploymentConfiguration: {
        DeploymentCircuitBreaker: { Enable: true, Rollback: true },
        MinimumHealthyPercent: 100,
        MaximumPercent: 200,
      },
      LoadBalancers: [Match.objectLike({ ContainerName: 'web', ContainerPort: CONTAINER_PORT })],
    });
  });

  it('defines one x86_64 task: 0.5 vCPU, 1 GiB, the image on port 8080, logs to CloudWatch, health-checked', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Cpu: '512',
      Memory: '1024',
      NetworkMode: 'awsvpc',
      RequiresCompatibilities: ['FARGATE'],
      RuntimePlatform: { CpuArchitecture: 'X86_64', OperatingSystemFamily: 'LINUX' },
      ContainerDefinitions: [
        {
          Name: 'web',
          Essential: true,
          // The asset's tag in the ECR repository the CDK bootstrap made in the account and region deployed to.
          Image: {
            'Fn::Sub': Match.stringLikeRegexp(
              String.raw`^\$\{AWS::AccountId\}\.dkr\.ecr\.\$\{AWS::Region\}\.\$\{AWS::URLSuffix\}/cdk-hnb659fds-container-assets-\$\{AWS::AccountId\}-\$\{AWS::Region\}:[0-9a-f]{64}$`,
            ),
          },
          PortMappings: [{ ContainerPort: 8080, Protocol: 'tcp' }],
          Environment: Match.arrayWith([
            { Name: 'FPM_BRIDGE_KEEP_ALIVE_TIMEOUT', Value: '65000' },
            { Name: 'FPM_BRIDGE_TIMEOUT', Value: '30000' },
            { Name: 'FPM_BRIDGE_METRICS_LISTEN', Value: '127.0.0.1:9100' },
          ]),
          LogConfiguration: {
            LogDriver: 'awslogs',
            Options: {
              'awslogs-group': { Ref: Match.stringLikeRegexp('^Logs') },
              'awslogs-stream-prefix': 'fpm-bridge',
              'awslogs-region': { Ref: 'AWS::Region' },
              mode: 'non-blocking',
            },
          },
          HealthCheck: {
            Command: ['CMD', ...HEALTH_COMMAND],
            Interval: 15,
            Timeout: 5,
            StartPeriod: 20,
            Retries: 3,
          },
          StopTimeout: 30,
          LinuxParameters: { Capabilities: {}, InitProcessEnabled: true },
        },
      ],
    });
  });

  it("repeats the Dockerfile's HEALTHCHECK and port, which ECS does not read from the image", () => {
    const dockerfile = readFileSync(join(ROOT, 'infra/Dockerfile'), 'utf8');
    assert.deepEqual(HEALTH_COMMAND, JSON.parse(/^HEALTHCHECK .*? CMD (\[.*\])$/m.exec(dockerfile)![1]!));
    assert.match(dockerfile, new RegExp(`^ENV FPM_BRIDGE_LISTEN=0\\.0\\.0\\.0:${CONTAINER_PORT}$`, 'm'));
  });

  it('trusts X-Forwarded-* only from addresses in the VPC, where the load balancer is', () => {
    const vpc = Object.keys(template.findResources('AWS::EC2::VPC'));
    assert.equal(vpc.length, 1);
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({
          Environment: Match.arrayWith([
            { Name: 'FPM_BRIDGE_TRUSTED_PROXIES', Value: { 'Fn::GetAtt': [vpc[0], 'CidrBlock'] } },
          ]),
        }),
      ],
    });
  });

  it('puts a public load balancer with an HTTP listener on port 80 in front', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Scheme: 'internet-facing',
      Type: 'application',
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 80, Protocol: 'HTTP' });
  });

  it('health-checks tasks on /fpm-bridge/health expecting 200, and drains them 35 s before SIGTERM', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      TargetType: 'ip',
      HealthCheckPath: HEALTH_PATH,
      Matcher: { HttpCode: '200' },
      HealthCheckIntervalSeconds: 15,
      HealthCheckTimeoutSeconds: 5,
      HealthyThresholdCount: 2,
      UnhealthyThresholdCount: 3,
      TargetGroupAttributes: Match.arrayWith([{ Key: 'deregistration_delay.timeout_seconds', Value: '35' }]),
    });
    assert.equal(HEALTH_PATH, '/fpm-bridge/health');
  });

  it('scales between 2 and 10 tasks on CPU (60 %) and on requests per task (500)', () => {
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      MinCapacity: 2,
      MaxCapacity: 10,
      ScalableDimension: 'ecs:service:DesiredCount',
      ServiceNamespace: 'ecs',
    });
    const policies = Object.values(template.findResources('AWS::ApplicationAutoScaling::ScalingPolicy')).map(
      (r) => {
        const c = r['Properties'].TargetTrackingScalingPolicyConfiguration;
        return [c.PredefinedMetricSpecification.PredefinedMetricType, c.TargetValue];
      },
    );
    assert.deepEqual(policies.sort(), [
      ['ALBRequestCountPerTarget', 500],
      ['ECSServiceAverageCPUUtilization', 60],
    ]);
  });

  it('keeps the logs 30 days and deletes them with the stack', () => {
    template.hasResource('AWS::Logs::LogGroup', {
      Properties: { RetentionInDays: 30 },
      DeletionPolicy: 'Delete',
    });
  });

  it('spans two AZs with public subnets for the load balancer and private ones behind one NAT gateway', () => {
    template.resourceCountIs('AWS::EC2::Subnet', 4);
    template.resourceCountIs('AWS::EC2::NatGateway', 1);
  });

  it('builds the image from infra/Dockerfile at deploy time: synthesis only stages the context, without Docker', () => {
    const manifest = JSON.parse(readFileSync(join(outdir, 'FpmBridge.assets.json'), 'utf8')) as AssetManifest;
    const images = Object.values(manifest.dockerImages ?? {});
    assert.equal(images.length, 1);
    const { directory, ...build } = images[0]!.source;
    assert.deepEqual(build, { dockerFile: 'infra/Dockerfile', platform: 'linux/amd64' });
    const staged = join(outdir, directory!);
    for (const kept of [
      'infra/Dockerfile',
      'package-lock.json',
      'cli/cli.ts',
      'examples/demo/public/index.php',
    ])
      assert.ok(existsSync(join(staged, kept)), `${kept} is in the staged context`);
    // .dockerignore applies: no dependencies (hundreds of MB), outputs or tests are copied.
    for (const left of ['node_modules', 'dist', 'test', '.git'])
      assert.equal(existsSync(join(staged, left)), false, `${left} is not in the staged context`);
  });
});
