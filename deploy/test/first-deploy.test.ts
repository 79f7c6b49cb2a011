// Issue 12 §1: what would have broken on the first AWS deploy, each as a check on
// the checked-in template's stack (and the construct where the template has no
// switch). Each test was written before its fix and failed on the template as it
// was; they look resources up by type and content, not by logical id.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { synthesizeTemplate } from '../lib/synth.ts';
import type { Template as CfnTemplate } from '../lib/template-env.ts';
import { constructStack, synth } from './support.ts';

const raw: CfnTemplate = synthesizeTemplate();
type Resource = { Type: string; Properties?: Record<string, any>; DependsOn?: string | string[]; Condition?: string };
const resources = raw.Resources as Record<string, Resource>;
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const json = (value: unknown) => JSON.stringify(value) ?? '';

/** Logical ids a resource depends on, directly or through its references and DependsOn, transitively. */
function dependencies(id: string, seen = new Set<string>()): Set<string> {
  const resource = resources[id];
  if (!resource || seen.has(id)) return seen;
  seen.add(id);
  const text = json(resource);
  const direct = [resource.DependsOn ?? []].flat();
  for (const other of Object.keys(resources)) {
    if (other !== id && (direct.includes(other) || text.includes(`"Ref":"${other}"`) || text.includes(`["${other}",`))) {
      dependencies(other, seen);
    }
  }
  return seen;
}

/** Statements of every AWS::IAM::Policy attached to a role. */
function statementsOf(roleId: string): Array<Record<string, any>> {
  return ofType('AWS::IAM::Policy')
    .filter(([, p]) => json(p.Properties?.['Roles']).includes(`"${roleId}"`))
    .flatMap(([, p]) => p.Properties!['PolicyDocument'].Statement as Array<Record<string, any>>);
}
const actionsOf = (statement: Record<string, any>) => [statement['Action']].flat() as string[];

const serviceTask = () => {
  const [id, task] = ofType('AWS::ECS::TaskDefinition').find(([, t]) =>
    (t.Properties!['ContainerDefinitions'] as Array<{ Name: string }>).some((c) => c.Name === 'worker'),
  )!;
  return { id, task };
};
const containerOf = (name: string) =>
  (serviceTask().task.Properties!['ContainerDefinitions'] as Array<Record<string, any>>).find((c) => c['Name'] === name)!;
const envOf = (name: string) =>
  Object.fromEntries((containerOf(name)['Environment'] as Array<{ Name: string; Value: unknown }>).map((e) => [e.Name, e.Value]));

describe('§1.1 images can be pulled', () => {
  test("every task definition's execution role may pull the ECR images the parameters name", () => {
    for (const [taskId, task] of ofType('AWS::ECS::TaskDefinition')) {
      const roleId = task.Properties!['ExecutionRoleArn']['Fn::GetAtt'][0] as string;
      const statements = statementsOf(roleId);
      const token = statements.find((s) => actionsOf(s).includes('ecr:GetAuthorizationToken'));
      assert.equal(token?.['Resource'], '*', `${taskId}: ecr:GetAuthorizationToken (it takes only "*")`);
      const images = (task.Properties!['ContainerDefinitions'] as Array<{ Image: unknown }>).map((c) => json(c.Image));
      for (const parameter of ['WorkerImage', 'ClamdImage']) {
        if (!images.some((image) => image.includes(`"Ref":"${parameter}"`))) continue;
        const pull = statements.find(
          (s) =>
            ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'].every((a) => actionsOf(s).includes(a)) &&
            json(s['Resource']).includes(`"Ref":"${parameter}"`),
        );
        assert.ok(pull, `${taskId}: pulls from the repository ${parameter} names`);
      }
    }
  });

  test('an image parameter that is not an ECR image URI is refused at deploy time, with a sentence saying why', () => {
    for (const name of ['WorkerImage', 'ClamdImage']) {
      const parameter = raw.Parameters![name] as { AllowedPattern?: string; ConstraintDescription?: string };
      assert.ok(parameter.AllowedPattern, `${name} has an AllowedPattern`);
      const pattern = new RegExp(`^(?:${parameter.AllowedPattern})$`);
      assert.ok(pattern.test('111122223333.dkr.ecr.eu-west-1.amazonaws.com/bucketscan:1.0.0'));
      assert.ok(pattern.test(`111122223333.dkr.ecr.eu-west-1.amazonaws.com/team/bucketscan-clamd@sha256:${'a'.repeat(64)}`));
      assert.ok(!pattern.test('docker.io/library/bucketscan:1.0.0'));
      assert.ok(!pattern.test('ghcr.io/example/bucketscan:1'));
      assert.match(parameter.ConstraintDescription ?? '', /ECR/);
    }
  });
});

describe('§1.2 the first deploy comes up by itself', () => {
  test('the scanning service starts only after the initial updater has filled the mirror (the custom resource waits for it)', () => {
    const [serviceId] = ofType('AWS::ECS::Service')[0]!;
    const [initialId] = ofType('Custom::BucketScanInitialDefinitions')[0]!;
    assert.ok(dependencies(serviceId).has(initialId), 'the service depends on the initial definitions');
    const functionId = resources[initialId]!.Properties!['ServiceToken']['Fn::GetAtt'][0] as string;
    const code = resources[functionId]!.Properties!['Code']['ZipFile'] as string;
    assert.match(code, /DescribeTasksCommand/, 'the function waits for the updater task to stop');
  });

  test('a preflight check of the network path runs before the service: internet for the updater, the S3 endpoint for the mirror', () => {
    const [serviceId] = ofType('AWS::ECS::Service')[0]!;
    const preflight = ofType('Custom::BucketScanPreflight');
    assert.equal(preflight.length, 1);
    const [preflightId, resource] = preflight[0]!;
    assert.ok(dependencies(serviceId).has(preflightId));
    assert.deepEqual(resource.Properties!['Subnets'], { Ref: 'SubnetIds' });
    assert.deepEqual(resource.Properties!['AssignPublicIp'], { Ref: 'AssignPublicIp' });
  });
});

describe('§1.3 the mirror is reachable', () => {
  test('given the route tables, the stack creates the S3 gateway endpoint on them', () => {
    const [, endpoint] = ofType('AWS::EC2::VPCEndpoint').find(([, e]) => e.Properties!['VpcEndpointType'] === 'Gateway') ?? [];
    assert.ok(endpoint, 'an S3 gateway endpoint');
    assert.deepEqual(endpoint.Properties!['RouteTableIds'], { Ref: 'RouteTableIds' });
    assert.match(json(endpoint.Properties!['ServiceName']), /\.s3/);
    assert.equal(endpoint.Condition, 'CreateS3Endpoint');
  });
});

describe('§1.4 scaling out from zero', () => {
  const alarms = ofType('AWS::CloudWatch::Alarm');
  test('no step policy and no alarm rests on RunningTaskCount, which may not exist while no task runs', () => {
    // Target tracking may: it acts only while tasks run (at zero it cannot multiply anything), when the metric exists.
    for (const [id, policy] of ofType('AWS::ApplicationAutoScaling::ScalingPolicy')) {
      if (policy.Properties!['PolicyType'] === 'TargetTrackingScaling') continue;
      assert.doesNotMatch(json(policy), /RunningTaskCount|FILL\(running/, id);
    }
    for (const [id, alarm] of alarms) assert.doesNotMatch(json(alarm), /RunningTaskCount|FILL\(running/, id);
  });

  test('out of zero: ChangeInCapacity +1 when messages are visible', () => {
    const steps = ofType('AWS::ApplicationAutoScaling::ScalingPolicy').filter(([, p]) => p.Properties!['PolicyType'] === 'StepScaling');
    const out = steps.find(([, p]) =>
      json(p.Properties!['StepScalingPolicyConfiguration']['StepAdjustments']).includes('"ScalingAdjustment":1'),
    );
    assert.ok(out, 'a scale-out step policy');
    assert.equal(out[1].Properties!['StepScalingPolicyConfiguration']['AdjustmentType'], 'ChangeInCapacity');
    const [, alarm] = alarms.find(([, a]) => json(a.Properties!['AlarmActions']).includes(out[0]))!;
    assert.match(json(alarm), /ApproximateNumberOfMessagesVisible/);
    assert.equal(alarm.Properties!['Threshold'], 1);
  });

  test('a wake-up function, when chosen, raises the desired count on the upload event itself', () => {
    const { app, stack } = constructStack({ wakeUp: 'function' } as never);
    const { template } = synth(app, stack);
    const rules = Object.values(template.findResources('AWS::Events::Rule')) as Resource[];
    const rule = rules.find((r) => json(r.Properties!['EventPattern']).includes('Object Created'));
    assert.ok(rule, 'an EventBridge rule on Object Created');
    const functions = Object.values(template.findResources('AWS::Lambda::Function')) as Resource[];
    assert.ok(functions.some((f) => /UpdateServiceCommand/.test(json(f.Properties!['Code']))));
  });
});

describe('§1.5 scale-in does not abort scans', () => {
  test('clamd MaxScanTime < SHUTDOWN_TIMEOUT < stopTimeout <= 120 s, with room for the steps after a scan', () => {
    const shutdown = Number(envOf('worker')['SHUTDOWN_TIMEOUT']);
    const maxScan = Number(envOf('clamd')['CLAMD_MAX_SCAN_TIME_MS']) / 1000;
    const stop = containerOf('worker')['StopTimeout'] as number;
    assert.ok(maxScan > 0, 'MaxScanTime is set explicitly');
    assert.ok(maxScan + 15 <= shutdown, `MaxScanTime ${maxScan} s + 15 s <= SHUTDOWN_TIMEOUT ${shutdown} s`);
    assert.ok(shutdown + 10 <= stop, `SHUTDOWN_TIMEOUT ${shutdown} s + 10 s <= stopTimeout ${stop} s`);
    assert.ok(stop <= 120, "Fargate's maximum stopTimeout");
    assert.ok(Number(envOf('worker')['CLAMD_TIMEOUT'] ?? 120) > maxScan);
  });

  test('the scaling target counts the messages a task holds ahead (RECEIVE_AHEAD), not just its scans', () => {
    const worker = envOf('worker');
    assert.ok(worker['RECEIVE_AHEAD'] !== undefined, 'RECEIVE_AHEAD is set explicitly');
    const [, tracking] = ofType('AWS::ApplicationAutoScaling::ScalingPolicy').find(
      ([, p]) => p.Properties!['PolicyType'] === 'TargetTrackingScaling',
    )!;
    const target = tracking.Properties!['TargetTrackingScalingPolicyConfiguration']['TargetValue'];
    assert.notDeepEqual(target, { Ref: 'Concurrency' }, 'not CONCURRENCY alone');
    const [map, , key] = target['Fn::FindInMap'] as [string, unknown, string];
    for (const [concurrency, row] of Object.entries(raw.Mappings![map]!)) {
      assert.equal(row[key], 2 * Number(concurrency), `Concurrency ${concurrency}: CONCURRENCY + RECEIVE_AHEAD (= CONCURRENCY)`);
    }
  });

  test('the task role may turn on task scale-in protection for tasks of its cluster', () => {
    const roleId = serviceTask().task.Properties!['TaskRoleArn']['Fn::GetAtt'][0] as string;
    assert.ok(statementsOf(roleId).some((s) => actionsOf(s).includes('ecs:UpdateTaskProtection')));
  });
});

describe('§1.6 KMS', () => {
  test('the template takes the source buckets keys, and grants kms:Decrypt and kms:GenerateDataKey through S3 only', () => {
    assert.equal(raw.Parameters!['KmsKeyArns']?.Type, 'CommaDelimitedList');
    const roleId = serviceTask().task.Properties!['TaskRoleArn']['Fn::GetAtt'][0] as string;
    const text = json(statementsOf(roleId));
    assert.match(text, /kms:Decrypt/);
    assert.match(text, /kms:ViaService/);
    assert.match(text, /"Ref":"KmsKeyArns"/);
  });

  test('a customer key can encrypt the queues and the notification topic', () => {
    assert.ok(raw.Parameters!['MessageEncryption'], 'a template parameter chooses it');
    const { app, stack } = constructStack({ messageEncryption: 'customer-key' } as never);
    const { template } = synth(app, stack);
    for (const queue of Object.values(template.findResources('AWS::SQS::Queue')) as Resource[]) {
      assert.ok(queue.Properties!['KmsMasterKeyId'], 'each queue uses the key');
    }
    const topics = Object.entries(template.findResources('AWS::SNS::Topic')) as Array<[string, Resource]>;
    const [, notifications] = topics.find(([id]) => id.includes('VirusNotifications'))!;
    assert.match(json(notifications.Properties!['KmsMasterKeyId']), /MessageKey/);
  });
});

describe('§1.7 fail-closed reads need a versioned bucket', () => {
  test('the preflight checks versioning when FailClosedReads is on', () => {
    const [, preflight] = ofType('Custom::BucketScanPreflight')[0]!;
    assert.deepEqual(preflight.Properties!['RequireVersioning'], { Ref: 'FailClosedReads' });
    assert.deepEqual(preflight.Properties!['Bucket'], { Ref: 'UnprocessedBucketName' });
  });
});

describe('§1.8 the missing alarms', () => {
  const alarms = ofType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties!);
  const byMetric = (name: string) => alarms.filter((a) => json(a).includes(`"${name}"`));

  test('the validation dead-letter queue is not empty', () => {
    const [validationDlq] = ofType('AWS::SQS::Queue').find(([id]) => /ValidationDeadLetters/.test(id))!;
    assert.ok(
      alarms.some((a) => json(a['Dimensions']).includes(validationDlq) && a['MetricName'] === 'ApproximateNumberOfMessagesVisible'),
    );
  });

  test('clamd is down while tasks run', () => {
    const [alarm] = byMetric('bucketscan_clamd_up');
    assert.ok(alarm);
    assert.equal(alarm['TreatMissingData'], 'notBreaching', 'no task, no metric: not an alarm');
  });

  test('AWS errors are climbing', () => {
    assert.equal(byMetric('bucketscan_aws_errors_total').length, 1);
  });

  test('the mirror is stale or the updater stopped reporting: fires with no scanning task', () => {
    const [alarm] = byMetric('bucketscan_mirror_definitions_age_seconds');
    assert.ok(alarm);
    assert.equal(alarm['TreatMissingData'], 'breaching', 'no report from the updater is an alarm');
  });

  test('an updater task that fails is announced on the alarm topic', () => {
    const rule = ofType('AWS::Events::Rule').find(([, r]) => json(r.Properties!['EventPattern']).includes('ECS Task State Change'));
    assert.ok(rule);
    assert.match(json(rule[1].Properties!['Targets']), /Alarms/);
  });
});
