/**
 * Scaling on the backlog, down to zero and back:
 * - target tracking on the messages per running task, aiming at what one task
 *   holds when busy (CONCURRENCY + RECEIVE_AHEAD), on the L1 policy because the L2
 *   refuses metric math; it acts only while tasks run, when its metric exists;
 * - out of zero: +1 task (ChangeInCapacity, so it never lowers a fleet) when
 *   messages are visible and none is in flight: SQS metrics that always exist for
 *   an active queue, unlike Container Insights' RunningTaskCount at zero tasks;
 * - down to zero after a quiet spell with nothing visible or in flight;
 * - optionally, a wake-up function on the upload event itself, for deployments
 *   that cannot wait for SQS metrics after a quiet day (docs/deploy.md).
 * Scale-in never cuts a scan short: the worker protects its task while it holds
 * messages (src/worker/task-protection.ts).
 */
import { type CfnCondition, CfnResource, Duration, Stack, Token } from 'aws-cdk-lib';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { smallFunction } from './lambda-code.ts';

export interface ScalingProps {
  cluster: ecs.ICluster;
  service: ecs.FargateService;
  inbound: sqs.IQueue;
  /** RESCAN_QUEUE: its backlog is work too (a backfill starts tasks, and keeps them until it is done). */
  rescan: sqs.IQueue;
  minTasks: number;
  maxTasks: number;
  /** Messages one busy task holds: CONCURRENCY + RECEIVE_AHEAD. */
  targetPerTask: number;
  scaleToZeroAfter: Duration;
  /** The wake-up function (and its condition, the template's switch). */
  wakeUp?:
    | {
        sources: Array<{ bucket: s3.IBucket; prefix: string }>;
        logRetention: logs.RetentionDays;
        condition?: CfnCondition | undefined;
      }
    | undefined;
}

export class Scaling extends Construct {
  public readonly target: appscaling.ScalableTarget;
  /** The inbound queue's metrics and the running tasks (the alarms read these). */
  public readonly metrics: { visible: cloudwatch.Metric; inFlight: cloudwatch.Metric; running: cloudwatch.Metric };
  /** The rescan queue's. */
  public readonly rescanMetrics: { visible: cloudwatch.Metric; inFlight: cloudwatch.Metric };
  public readonly wakeUpFunction: lambda.Function | undefined;

  constructor(scope: Construct, id: string, props: ScalingProps) {
    super(scope, id);
    const minute = Duration.minutes(1);
    this.metrics = {
      running: new cloudwatch.Metric({
        namespace: 'ECS/ContainerInsights',
        metricName: 'RunningTaskCount',
        dimensionsMap: { ClusterName: props.cluster.clusterName, ServiceName: props.service.serviceName },
        statistic: 'Average',
        period: minute,
      }),
      visible: props.inbound.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: minute }),
      inFlight: props.inbound.metricApproximateNumberOfMessagesNotVisible({ statistic: 'Maximum', period: minute }),
    };
    this.rescanMetrics = {
      visible: props.rescan.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: minute }),
      inFlight: props.rescan.metricApproximateNumberOfMessagesNotVisible({ statistic: 'Maximum', period: minute }),
    };
    const m = this.metrics;
    const r = this.rescanMetrics;
    this.target = new appscaling.ScalableTarget(this, 'TaskCount', {
      serviceNamespace: appscaling.ServiceNamespace.ECS,
      resourceId: `service/${props.cluster.clusterName}/${props.service.serviceName}`,
      scalableDimension: 'ecs:service:DesiredCount',
      minCapacity: props.minTasks,
      maxCapacity: props.maxTasks,
    });

    // Messages per running task = (visible + in flight) / running, over the inbound
    // and the rescan queue. A busy task holds CONCURRENCY scanning plus RECEIVE_AHEAD
    // received ahead, all in flight for SQS: aiming at CONCURRENCY alone would run
    // twice the tasks needed.
    new appscaling.CfnScalingPolicy(this, 'BacklogPerTaskPolicy', {
      policyName: `${Stack.of(this).stackName}-backlog-per-task`,
      policyType: 'TargetTrackingScaling',
      scalingTargetId: this.target.scalableTargetId,
      targetTrackingScalingPolicyConfiguration: {
        targetValue: Token.asNumber(props.targetPerTask),
        scaleOutCooldown: 60,
        scaleInCooldown: 300,
        customizedMetricSpecification: {
          metrics: [
            { id: 'visible', metricStat: metricStat(m.visible, 'Sum'), returnData: false },
            { id: 'inflight', metricStat: metricStat(m.inFlight, 'Sum'), returnData: false },
            { id: 'rvisible', metricStat: metricStat(r.visible, 'Sum'), returnData: false },
            { id: 'rinflight', metricStat: metricStat(r.inFlight, 'Sum'), returnData: false },
            { id: 'running', metricStat: metricStat(m.running, 'Average'), returnData: false },
            {
              id: 'backlog',
              // Either queue may publish no metrics while idle (a backfill alone, or uploads alone).
              expression: 'FILL(visible, 0) + FILL(inflight, 0) + FILL(rvisible, 0) + FILL(rinflight, 0)',
              returnData: false,
            },
            {
              id: 'backlogpertask',
              expression: 'IF(FILL(running, 0) >= 1, backlog / FILL(running, 0), backlog)',
              label: 'messages per running task',
              returnData: true,
            },
          ],
        },
      },
    });

    // Out of zero (target tracking multiplies the current count, which is zero).
    // Nothing in flight while messages wait means no task is taking them.
    const fromZero = new appscaling.StepScalingAction(this, 'ScaleOutFromZero', {
      scalingTarget: this.target,
      adjustmentType: appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
      cooldown: Duration.minutes(2),
      metricAggregationType: appscaling.MetricAggregationType.MAXIMUM,
    });
    fromZero.addAdjustment({ adjustment: 1, lowerBound: 0 });
    new cloudwatch.Alarm(this, 'ScaleOutFromZeroAlarm', {
      alarmDescription: 'bucketscan scaling: messages visible (inbound or rescan) and none in flight (no task is taking them)',
      metric: new cloudwatch.MathExpression({
        // Either queue may publish no metrics at all while idle: a backfill alone must still start a task.
        expression: 'IF(FILL(inflight, 0) + FILL(rinflight, 0) < 1, FILL(visible, 0) + FILL(rvisible, 0), 0)',
        usingMetrics: { visible: m.visible, inflight: m.inFlight, rvisible: r.visible, rinflight: r.inFlight },
        period: minute,
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(new cwActions.ApplicationScalingAction(fromZero));

    // Down to zero only when nothing is visible and nothing is in flight for the
    // whole period; a task that still holds a message is protected anyway.
    const idle = props.scaleToZeroAfter;
    const toZero = new appscaling.StepScalingAction(this, 'ScaleInToZero', {
      scalingTarget: this.target,
      adjustmentType: appscaling.AdjustmentType.EXACT_CAPACITY,
      cooldown: Duration.minutes(5),
      metricAggregationType: appscaling.MetricAggregationType.MAXIMUM,
    });
    toZero.addAdjustment({ adjustment: 0, upperBound: 0 });
    new cloudwatch.Alarm(this, 'ScaleInToZeroAlarm', {
      alarmDescription: `bucketscan scaling: no message visible or in flight (inbound or rescan) for ${idle.toHumanString()}`,
      metric: new cloudwatch.MathExpression({
        // The rescan queue may publish no metrics at all (idle for hours): it counts as empty.
        expression: 'visible + inflight + FILL(rvisible, 0) + FILL(rinflight, 0)',
        usingMetrics: { visible: m.visible, inflight: m.inFlight, rvisible: r.visible, rinflight: r.inFlight },
        period: minute,
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: Math.max(1, Math.round(idle.toMinutes())),
      datapointsToAlarm: Math.max(1, Math.round(idle.toMinutes())),
      // SQS stops sending metrics for a queue idle for hours: that is not "busy".
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(new cwActions.ApplicationScalingAction(toZero));

    this.wakeUpFunction = props.wakeUp ? this.addWakeUp(props, props.wakeUp) : undefined;
  }

  private addWakeUp(props: ScalingProps, wakeUp: NonNullable<ScalingProps['wakeUp']>): lambda.Function {
    const scope = new Construct(this, 'WakeUp');
    const serviceArn = props.service.serviceArn;
    const { fn } = smallFunction(scope, {
      code: 'wake-up',
      description: 'bucketscan: raise the scanning service from 0 to 1 task on an upload',
      timeout: Duration.seconds(30),
      statements: [new iam.PolicyStatement({ actions: ['ecs:DescribeServices', 'ecs:UpdateService'], resources: [serviceArn] })],
      logRetention: wakeUp.logRetention,
      environment: { CLUSTER: props.cluster.clusterName, SERVICE: props.service.serviceName },
    });
    const match = (source: { bucket: s3.IBucket; prefix: string }) => ({
      bucket: { name: [source.bucket.bucketName] },
      ...(source.prefix && !Token.isUnresolved(source.prefix) ? { object: { key: [{ prefix: source.prefix }] } } : {}),
    });
    for (const bucket of new Set(wakeUp.sources.map((source) => source.bucket))) bucket.enableEventBridgeNotification();
    new events.Rule(scope, 'OnUpload', {
      description: 'bucketscan: an upload wakes the scanning service without waiting for SQS metrics',
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: wakeUp.sources.length === 1 ? match(wakeUp.sources[0]!) : { $or: wakeUp.sources.map(match) },
      },
      targets: [new targets.LambdaFunction(fn, { retryAttempts: 2 })],
    });
    if (wakeUp.condition) {
      for (const child of scope.node.findAll()) {
        if (child instanceof CfnResource) child.cfnOptions.condition = wakeUp.condition;
      }
    }
    return fn;
  }
}

function metricStat(metric: cloudwatch.Metric, stat: string): appscaling.CfnScalingPolicy.TargetTrackingMetricStatProperty {
  return {
    metric: {
      namespace: metric.namespace,
      metricName: metric.metricName,
      dimensions: Object.entries(metric.dimensions ?? {}).map(([name, value]) => ({ name, value: String(value) })),
    },
    stat,
  };
}
