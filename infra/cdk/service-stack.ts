import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { ApplicationLoadBalancedFargateService } from 'aws-cdk-lib/aws-ecs-patterns';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

/** The repository root: the build context of infra/Dockerfile. */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** What fpm-bridge listens on in the image (its ENV FPM_BRIDGE_LISTEN). */
export const CONTAINER_PORT = 8080;
/** fpm-bridge's health endpoint (`healthPath`): 200 when PHP can run, 503 while php-fpm restarts. */
export const HEALTH_PATH = '/fpm-bridge/health';
/** The image's HEALTHCHECK command: ECS ignores a HEALTHCHECK in the image, so the task repeats it. */
export const HEALTH_COMMAND = ['node', '/opt/fpm-bridge/healthcheck.mjs'];

/**
 * The image built from infra/Dockerfile. Synthesis only copies the build context into cdk.out (minus what
 * .dockerignore excludes) and records the asset; Docker builds it at deploy time, for x86_64 as the task runs.
 */
export function dockerfileImage(): ecs.ContainerImage {
  return ecs.ContainerImage.fromAsset(ROOT, { file: 'infra/Dockerfile', platform: Platform.LINUX_AMD64 });
}

export interface FpmBridgeServiceProps extends StackProps {
  /** The container image; {@link dockerfileImage} or `ContainerImage.fromRegistry(uri)`. */
  image: ecs.ContainerImage;
  /** Tasks while load is low; autoscaling adds up to `maxCount`. Default 2 (one per AZ). */
  desiredCount?: number;
  /** Default 10. */
  maxCount?: number;
  /** Fargate CPU units (1024 = 1 vCPU). Default 512. */
  cpu?: number;
  /** Default 1024. */
  memoryLimitMiB?: number;
  /** Longest a request may run (fpm-bridge's `timeout`). Default 30 s. */
  requestTimeout?: Duration;
}

/**
 * fpm-bridge on ECS Fargate behind a public Application Load Balancer: a VPC over two AZs, a cluster, a
 * service whose tasks run the image of infra/Dockerfile (fpm-bridge spawning php-fpm in the container),
 * health-checked on {@link HEALTH_PATH}, scaled on CPU and on requests per task, logging to CloudWatch.
 * No lookups: it synthesizes offline and deploys to any account and region.
 *
 * @example
 *   new FpmBridgeServiceStack(app, 'FpmBridge', { image: dockerfileImage() })
 */
export class FpmBridgeServiceStack extends Stack {
  readonly service: ApplicationLoadBalancedFargateService;

  constructor(scope: Construct, id: string, props: FpmBridgeServiceProps) {
    super(scope, id, props);
    const requestTimeout = props.requestTimeout ?? Duration.seconds(30);
    const desiredCount = props.desiredCount ?? 2;

    // Tasks in private subnets reach ECR and CloudWatch through one NAT gateway (one per AZ costs more and
    // only matters when an AZ fails).
    const vpc = new ec2.Vpc(this, 'Vpc', { maxAzs: 2, natGateways: 1 });
    const cluster = new ecs.Cluster(this, 'Cluster', { vpc });

    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: props.cpu ?? 512,
      memoryLimitMiB: props.memoryLimitMiB ?? 1024,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.X86_64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });
    taskDefinition.addContainer('web', {
      image: props.image,
      portMappings: [{ containerPort: CONTAINER_PORT }],
      environment: {
        // The load balancer's nodes have addresses in the VPC: their X-Forwarded-For/-Proto/-Port are believed,
        // so PHP sees the client's address and HTTPS=on behind an HTTPS listener.
        FPM_BRIDGE_TRUSTED_PROXIES: vpc.vpcCidrBlock,
        // Longer than the load balancer's idle timeout (60 s), so fpm-bridge never closes a connection the
        // load balancer is about to reuse (which the client would see as a 502).
        FPM_BRIDGE_KEEP_ALIVE_TIMEOUT: '65000',
        FPM_BRIDGE_TIMEOUT: String(requestTimeout.toMilliseconds()),
        // Metrics on the loopback only (for a collector sidecar), not through the public load balancer; the
        // health endpoint stays on the main port for the target group.
        FPM_BRIDGE_METRICS_LISTEN: '127.0.0.1:9100',
      },
      logging: ecs.LogDrivers.awsLogs({
        logGroup,
        streamPrefix: 'fpm-bridge',
        // A CloudWatch Logs slowdown must not block the app's stdout; lines beyond the buffer are dropped.
        mode: ecs.AwsLogDriverMode.NON_BLOCKING,
      }),
      healthCheck: {
        command: ['CMD', ...HEALTH_COMMAND],
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        startPeriod: Duration.seconds(20),
        retries: 3,
      },
      // fpm-bridge finishes requests in flight for up to 10 s after SIGTERM, then stops php-fpm (up to 2 s).
      stopTimeout: Duration.seconds(30),
      // An init process as PID 1 reaps workers php-fpm leaves behind and passes SIGTERM on to fpm-bridge.
      linuxParameters: new ecs.LinuxParameters(this, 'Linux', { initProcessEnabled: true }),
    });

    this.service = new ApplicationLoadBalancedFargateService(this, 'Service', {
      cluster,
      taskDefinition,
      desiredCount,
      publicLoadBalancer: true,
      // Start new tasks before stopping old ones; roll back a deployment whose tasks never get healthy.
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { rollback: true },
      healthCheckGracePeriod: Duration.seconds(30),
    });
    const targetGroup = this.service.targetGroup;
    targetGroup.configureHealthCheck({
      path: HEALTH_PATH,
      healthyHttpCodes: '200',
      interval: Duration.seconds(15),
      timeout: Duration.seconds(5),
      healthyThresholdCount: 2,
      unhealthyThresholdCount: 3,
    });
    // A task leaving the service gets this long to finish its requests before ECS sends SIGTERM: the longest
    // request plus a margin, instead of the 300 s default that slows every deployment.
    targetGroup.setAttribute('deregistration_delay.timeout_seconds', String(requestTimeout.toSeconds() + 5));

    const scaling = this.service.service.autoScaleTaskCount({
      minCapacity: desiredCount,
      maxCapacity: props.maxCount ?? 10,
    });
    scaling.scaleOnCpuUtilization('Cpu', { targetUtilizationPercent: 60 });
    scaling.scaleOnRequestCount('Requests', { requestsPerTarget: 500, targetGroup });
  }
}
