/**
 * The ClamAV definitions for a fleet: one private mirror per deployment (an S3
 * bucket), filled by one updater task on a schedule, never every task against the
 * public CDN (which rate-limits and blocks). At creation the updater runs once and
 * the stack waits for it, so the first scanning task finds a seeded mirror. Every
 * successful run reports the mirror's age (the MirrorStale alarm, alarms.ts).
 */
import { type CfnCondition, CustomResource, Duration, Stack } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { secureBucketDefaults } from './buckets.ts';
import { ecrPullStatements, needsEcrGrant } from './images.ts';
import { smallFunction } from './lambda-code.ts';
import { updaterScript } from './updater-scripts.ts';

/** Pinned: an image tag that moves would change the updater without a deploy. */
export const DEFAULT_AWS_CLI_IMAGE = 'public.ecr.aws/aws-cli/aws-cli:2.27.50';
/** The metric every successful updater run reports (deploy/updater/publish.sh). */
export const MIRROR_AGE_METRIC = 'bucketscan_mirror_definitions_age_seconds';

export interface DefinitionsMirrorProps {
  vpcId: string;
  cluster: ecs.ICluster;
  securityGroup: ec2.ISecurityGroup;
  subnetIds: string[];
  /** 'ENABLED' or 'DISABLED' (or a template parameter). */
  assignPublicIp: string;
  logGroup: logs.ILogGroup;
  logRetention: logs.RetentionDays;
  clamdImage: ecs.ContainerImage;
  awsCliImage: ecs.ContainerImage;
  /** The AWS CLI image is a template parameter that may be public (no grant) or private ECR (a grant): this condition holds for private. */
  awsCliImageGrant?: 'always' | 'never' | { condition: CfnCondition; uri: string };
  schedule: events.Schedule;
  metricsNamespace: string;
  accessLogsBucket?: s3.IBucket | undefined;
}

export class DefinitionsMirror extends Construct {
  public readonly bucket: s3.Bucket;
  public readonly updaterTaskDefinition: ecs.FargateTaskDefinition;
  public readonly schedule: events.Rule;
  /** Runs the updater once when the stack is created and waits for it; the scanning service depends on it. */
  public readonly initialDefinitions: CustomResource;
  public readonly initialDefinitionsFunction: lambda.Function;

  constructor(scope: Construct, id: string, props: DefinitionsMirrorProps) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      ...secureBucketDefaults(props.accessLogsBucket, 'definitions-mirror/'),
      versioned: false,
    });
    // freshclam cannot sign requests, so the mirror is read anonymously, but only
    // from inside this VPC (through its S3 gateway endpoint): aws:SourceVpc is a
    // fixed value, so S3's Block Public Access does not count this as public.
    // ListBucket makes S3 answer 404, not 403, for a file the mirror lacks, which
    // freshclam treats as "try the .cvd" rather than as being blocked.
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'ReadMirrorFromTheVpc',
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:GetObject', 's3:ListBucket'],
        resources: [this.bucket.bucketArn, this.bucket.arnForObjects('*')],
        conditions: { StringEquals: { 'aws:SourceVpc': props.vpcId } },
      }),
    );

    const task = new ecs.FargateTaskDefinition(this, 'UpdaterTask', {
      cpu: 1024,
      // freshclam test-loads a new database before it keeps it (about 1.2 GiB).
      memoryLimitMiB: 3072,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    this.updaterTaskDefinition = task;
    task.addVolume({ name: 'database' });
    const logging = (prefix: string) => ecs.LogDrivers.awsLogs({ logGroup: props.logGroup, streamPrefix: `updater-${prefix}` });
    const environment = { MIRROR_BUCKET: this.bucket.bucketName, METRICS_NAMESPACE: props.metricsNamespace, DATABASE_DIR: '/database' };
    const step = (name: 'restore' | 'freshclam' | 'publish', image: ecs.ContainerImage, essential: boolean) =>
      task.addContainer(name, {
        image,
        essential,
        entryPoint: ['/bin/sh', '-c'],
        command: [updaterScript(name)],
        environment: name === 'freshclam' ? {} : environment,
        logging: logging(name),
      });
    const restore = step('restore', props.awsCliImage, false);
    restore.addMountPoints({ sourceVolume: 'database', containerPath: '/database', readOnly: false });
    const freshclam = step('freshclam', props.clamdImage, false);
    freshclam.addMountPoints({ sourceVolume: 'database', containerPath: '/var/lib/clamav', readOnly: false });
    freshclam.addContainerDependencies({ container: restore, condition: ecs.ContainerDependencyCondition.SUCCESS });
    // Only the signed .cvd files are served: freshclam verifies their signature,
    // so the mirror cannot hand a task a database the CDN did not sign.
    const publish = step('publish', props.awsCliImage, true);
    publish.addMountPoints({ sourceVolume: 'database', containerPath: '/database', readOnly: true });
    publish.addContainerDependencies({ container: freshclam, condition: ecs.ContainerDependencyCondition.SUCCESS });

    // `aws s3 sync` lists, reads and writes; nothing else.
    task.addToTaskRolePolicy(new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.bucket.bucketArn] }));
    task.addToTaskRolePolicy(
      new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject'], resources: [this.bucket.arnForObjects('*')] }),
    );
    const executionRole = task.obtainExecutionRole();
    const clamdName = freshclam.imageName;
    const pulls = needsEcrGrant(clamdName) ? [clamdName] : [];
    const cli = props.awsCliImageGrant ?? (needsEcrGrant(restore.imageName) ? 'always' : 'never');
    if (cli === 'always') pulls.push(restore.imageName);
    if (pulls.length > 0) {
      new iam.Policy(this, 'UpdaterImagePull', { statements: ecrPullStatements(pulls) }).attachToRole(executionRole);
    }
    if (typeof cli === 'object') {
      // Granted only where the parameter names a private ECR image.
      const policy = new iam.Policy(this, 'AwsCliImagePull', { statements: ecrPullStatements([cli.uri]) });
      policy.attachToRole(executionRole);
      (policy.node.defaultChild as iam.CfnPolicy).cfnOptions.condition = cli.condition;
    }

    const network = {
      subnets: props.subnetIds,
      securityGroups: [props.securityGroup.securityGroupId],
      assignPublicIp: props.assignPublicIp,
    };
    this.schedule = new events.Rule(this, 'Schedule', {
      description: 'bucketscan: refresh the ClamAV definitions mirror',
      schedule: props.schedule,
      targets: [
        new targets.EcsTask({
          cluster: props.cluster,
          taskDefinition: task,
          securityGroups: [props.securityGroup],
          launchType: ecs.LaunchType.FARGATE,
          platformVersion: ecs.FargatePlatformVersion.LATEST,
        }),
      ],
    });
    // The subnets and public IP as given (the target's own subnet selection cannot take a parameter list).
    const rule = this.schedule.node.defaultChild as events.CfnRule;
    rule.addPropertyOverride('Targets.0.EcsParameters.NetworkConfiguration.AwsVpcConfiguration.Subnets', network.subnets);
    rule.addPropertyOverride('Targets.0.EcsParameters.NetworkConfiguration.AwsVpcConfiguration.AssignPublicIp', network.assignPublicIp);

    // Fill the mirror once at creation and wait for it: the scanning service
    // depends on this, so its first task never meets an empty mirror.
    const starter = smallFunction(new Construct(this, 'InitialDefinitionsStarter'), {
      code: 'initial-definitions',
      description: 'bucketscan: run the definitions updater once when the stack is created, and wait for it',
      // The updater pulls two images, downloads about 0.4 GB and publishes it: minutes.
      timeout: Duration.minutes(15),
      statements: [
        new iam.PolicyStatement({
          actions: ['ecs:RunTask'],
          resources: [task.taskDefinitionArn],
          conditions: { ArnEquals: { 'ecs:cluster': props.cluster.clusterArn } },
        }),
        new iam.PolicyStatement({
          actions: ['ecs:DescribeTasks'],
          resources: [Stack.of(this).formatArn({ service: 'ecs', resource: 'task', resourceName: `${props.cluster.clusterName}/*` })],
          conditions: { ArnEquals: { 'ecs:cluster': props.cluster.clusterArn } },
        }),
        new iam.PolicyStatement({ actions: ['iam:PassRole'], resources: [task.taskRole.roleArn, executionRole.roleArn] }),
      ],
      logRetention: props.logRetention,
    });
    this.initialDefinitionsFunction = starter.fn;
    this.initialDefinitions = new CustomResource(this, 'InitialDefinitions', {
      serviceToken: this.initialDefinitionsFunction.functionArn,
      resourceType: 'Custom::BucketScanInitialDefinitions',
      properties: {
        Cluster: props.cluster.clusterArn,
        TaskDefinition: task.taskDefinitionArn,
        Subnets: network.subnets,
        SecurityGroups: network.securityGroups,
        AssignPublicIp: network.assignPublicIp,
        LogGroup: props.logGroup.logGroupName,
      },
    });
    this.initialDefinitions.node.addDependency(starter.role);
  }

  /** https://<bucket regional domain>: what each task's freshclam uses as its PrivateMirror. */
  get url(): string {
    return `https://${this.bucket.bucketRegionalDomainName}`;
  }
}
