/**
 * Alarms to one topic (on alarm and on recovery), the announcement of a failed
 * updater run, and a dashboard. Each alarm watches a metric that exists when its
 * condition can be true: SQS metrics for the queues, the worker's EMF metrics
 * while tasks run (no task, no alarm), the updater's report of the mirror's age
 * (which must arrive every hour, tasks or not).
 */
import { Aws, Duration, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { MIRROR_AGE_METRIC } from './mirror.ts';

export type AlarmName =
  | 'deadLetters'
  | 'validationDeadLetters'
  | 'oldestMessage'
  | 'backlogNotMoving'
  | 'staleDefinitions'
  | 'clamdDown'
  | 'awsErrors'
  | 'mirrorStale';

export interface AlarmsProps {
  metricsNamespace: string;
  inbound: sqs.IQueue;
  deadLetters: sqs.IQueue;
  validationDeadLetters: sqs.IQueue;
  visible: cloudwatch.Metric;
  inFlight: cloudwatch.Metric;
  running: cloudwatch.Metric;
  maxMessageAge: Duration;
  maxDefinitionsAge: Duration;
  maxMirrorAge: Duration;
  /** AWS request failures (after the SDK's retries) in 5 minutes, two periods running. */
  awsErrorsThreshold: number;
  updater: { cluster: ecs.ICluster; taskDefinition: ecs.TaskDefinition; logGroup: logs.ILogGroup };
  alarmEmail?: string | undefined;
}

export class Alarms extends Construct {
  public readonly topic: sns.Topic;
  public readonly alarms: Record<AlarmName, cloudwatch.Alarm>;
  public readonly updaterFailedRule: events.Rule;
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    this.topic = new sns.Topic(this, 'Topic', { enforceSSL: true });
    Validations.of(this.topic).acknowledge({
      id: 'AwsSolutions-SNS2',
      reason:
        'CloudWatch alarms cannot publish to a topic encrypted with the AWS managed SNS key, and a customer key would be the only ' +
        'per-month cost of an idle deployment; alarm messages name alarms and thresholds, never files.',
    });
    if (props.alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));

    const fiveMinutes = Duration.minutes(5);
    const emf = (metricName: string, statistic: string, period = fiveMinutes) =>
      new cloudwatch.Metric({ namespace: props.metricsNamespace, metricName, statistic, period });
    const alarm = (name: string, options: cloudwatch.AlarmProps) => new cloudwatch.Alarm(this, name, options);
    const atLeastOne = {
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    };

    this.alarms = {
      deadLetters: alarm('DeadLetters', {
        alarmDescription: 'bucketscan: messages in the inbound dead-letter queue (see `bucketscan dlq list`)',
        metric: props.deadLetters.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: fiveMinutes }),
        ...atLeastOne,
      }),
      validationDeadLetters: alarm('ValidationDeadLetters', {
        alarmDescription: "bucketscan: messages in the validation queue's dead-letter queue: the next stage failed to take clean files",
        metric: props.validationDeadLetters.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: fiveMinutes }),
        ...atLeastOne,
      }),
      oldestMessage: alarm('OldestMessage', {
        alarmDescription: `bucketscan: an inbound message has waited more than ${props.maxMessageAge.toHumanString()}`,
        metric: props.inbound.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum', period: fiveMinutes }),
        threshold: props.maxMessageAge.toSeconds(),
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      // Messages waiting and none taken for 10 minutes: no task runs, or the tasks
      // are stuck. Both metrics exist whenever the queue is active, tasks or not.
      backlogNotMoving: alarm('BacklogNotMoving', {
        alarmDescription: 'bucketscan: messages have been waiting for 10 minutes and none is in work (no task running, or tasks stuck)',
        metric: new cloudwatch.MathExpression({
          expression: 'IF(visible >= 1 AND FILL(inflight, 0) < 1, 1, 0)',
          usingMetrics: { visible: props.visible, inflight: props.inFlight },
          period: Duration.minutes(1),
          label: 'backlog with nothing in flight',
        }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 10,
        datapointsToAlarm: 10,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      staleDefinitions: alarm('StaleDefinitions', {
        alarmDescription: `bucketscan: the ClamAV definitions a task uses are older than ${props.maxDefinitionsAge.toHumanString()}`,
        metric: emf('bucketscan_definitions_age_seconds', 'Maximum', Duration.minutes(15)),
        threshold: props.maxDefinitionsAge.toSeconds(),
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        // No task, no metric: scaled to zero is not stale (the mirror alarm covers that).
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      clamdDown: alarm('ClamdDown', {
        alarmDescription: 'bucketscan: clamd has not answered a running worker for 10 minutes (the worker pauses, messages wait)',
        metric: emf('bucketscan_clamd_up', 'Minimum'),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
        // The gauge exists only while a worker runs: no task is not "down".
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      awsErrors: alarm('AwsErrors', {
        alarmDescription: `bucketscan: AWS requests keep failing after the SDK's retries (at least ${props.awsErrorsThreshold} in 5 minutes, twice running); see bucketscan_aws_errors_total by service and operation`,
        metric: emf('bucketscan_aws_errors_total', 'Sum'),
        threshold: props.awsErrorsThreshold,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      // Every successful updater run (hourly) reports the mirror's age; no report
      // for three hours is an alarm too, with or without scanning tasks.
      mirrorStale: alarm('MirrorStale', {
        alarmDescription:
          `bucketscan: the definitions mirror is older than ${props.maxMirrorAge.toHumanString()}, or the updater has not ` +
          'reported for 3 hours (failing, or not running)',
        metric: emf(MIRROR_AGE_METRIC, 'Minimum', Duration.hours(1)),
        threshold: props.maxMirrorAge.toSeconds(),
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 3,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      }),
    };
    const action = new cwActions.SnsAction(this.topic);
    for (const each of Object.values(this.alarms)) {
      each.addAlarmAction(action);
      each.addOkAction(action);
    }

    // A failed updater run (a step that exited non-zero, or a task that could not
    // start) goes to the topic at once; MirrorStale covers silence.
    const { cluster, taskDefinition, logGroup } = props.updater;
    this.updaterFailedRule = new events.Rule(this, 'UpdaterFailed', {
      description: 'bucketscan: a definitions updater task failed',
      eventPattern: {
        source: ['aws.ecs'],
        detailType: ['ECS Task State Change'],
        detail: {
          clusterArn: [cluster.clusterArn],
          group: [`family:${taskDefinition.family}`],
          lastStatus: ['STOPPED'],
          $or: [{ containers: { exitCode: [{ 'anything-but': 0 }] } }, { stopCode: ['TaskFailedToStart'] }],
        },
      },
      targets: [
        new targets.SnsTopic(this.topic, {
          message: events.RuleTargetInput.fromText(
            `bucketscan (${Aws.STACK_NAME}): the definitions updater task ${events.EventField.fromPath('$.detail.taskArn')} failed ` +
              `(${events.EventField.fromPath('$.detail.stoppedReason')}); its logs are in ${logGroup.logGroupName} under updater-*`,
          ),
        }),
      ],
    });

    this.dashboard = this.addDashboard(props, emf);
  }

  private addDashboard(
    props: AlarmsProps,
    emf: (name: string, statistic: string, period?: Duration) => cloudwatch.Metric,
  ): cloudwatch.Dashboard {
    const outcomes = ['clean', 'infected', 'too-large', 'unscannable', 'invalid', 'dropped', 'retry', 'test-event'];
    const byOutcome = outcomes.map(
      (outcome) =>
        new cloudwatch.Metric({
          namespace: props.metricsNamespace,
          metricName: 'bucketscan_records_total',
          dimensionsMap: { outcome },
          statistic: 'Sum',
          period: Duration.minutes(5),
          label: outcome,
        }),
    );
    const duration = (statistic: string) => emf('bucketscan_scan_duration_seconds', statistic).with({ label: statistic });
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(6) });
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Records by outcome (per 5 minutes)', left: byOutcome, stacked: true, width: 12 }),
      new cloudwatch.GraphWidget({ title: 'Scan duration (s)', left: [duration('p50'), duration('p99'), duration('Maximum')], width: 12 }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Backlog and tasks',
        left: [props.visible.with({ label: 'visible' }), props.inFlight.with({ label: 'in flight' })],
        right: [props.running.with({ label: 'running tasks' })],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Definitions age (hours)',
        left: [
          new cloudwatch.MathExpression({
            expression: 'age / 3600',
            usingMetrics: { age: emf('bucketscan_definitions_age_seconds', 'Maximum', Duration.minutes(15)) },
            label: 'oldest definitions in use (h)',
          }),
          new cloudwatch.MathExpression({
            expression: 'mirror / 3600',
            usingMetrics: { mirror: emf(MIRROR_AGE_METRIC, 'Minimum', Duration.hours(1)) },
            label: 'mirror (h)',
          }),
        ],
        width: 12,
      }),
    );
    dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: Object.values(this.alarms), width: 24 }));
    return dashboard;
  }
}
