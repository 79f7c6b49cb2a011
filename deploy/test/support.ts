import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BucketScan, type BucketScanProps } from '../lib/bucketscan.ts';
import { resolveDeep, type Template as CfnTemplate } from '../lib/template-env.ts';

export const ACCOUNT = '111122223333';
export const REGION = 'eu-west-1';

/**
 * The construct in a stack of its own with concrete values (what a CDK user
 * writes), cdk-nag attached. Returns the stack and its construct; synthesize
 * with `synth` to get the template and the nag findings.
 */
export function constructStack(props: Partial<BucketScanProps> = {}): { app: App; stack: Stack; scan: BucketScan } {
  return constructStackWith(() => props);
}

/** The same, with properties that need the stack (resources of the user's own). */
export function constructStackWith(propsFor: (stack: Stack) => Partial<BucketScanProps>): { app: App; stack: Stack; scan: BucketScan } {
  const app = new App({ analyticsReporting: false, outdir: mkdtempSync(join(tmpdir(), 'bucketscan-test-synth-')) });
  const stack = new Stack(app, 'Scan', { env: { account: ACCOUNT, region: REGION } });
  const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
    vpcId: 'vpc-0123456789abcdef0',
    availabilityZones: [`${REGION}a`, `${REGION}b`],
    privateSubnetIds: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'],
  });
  const scan = new BucketScan(stack, 'BucketScan', {
    vpc,
    workerImage: ecs.ContainerImage.fromRegistry(`${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/bucketscan:1`),
    clamdImage: ecs.ContainerImage.fromRegistry(`${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/bucketscan-clamd:1`),
    ...propsFor(stack),
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack, scan };
}

/** The violations cdk-nag (and CDK's own validation) reported, as `rule | construct path` lines. */
export interface Synthesized {
  template: Template;
  violations: string[];
}

export function synth(app: App, stack: Stack): Synthesized {
  const assemblyDir = app.outdir;
  try {
    let violations: string[] = [];
    try {
      app.synth();
    } catch (error) {
      if (!String(error).includes('Validation failed')) throw error;
    }
    try {
      const report = JSON.parse(readFileSync(join(assemblyDir, 'validation-report.json'), 'utf8')) as {
        pluginReports: Array<{
          pluginName: string;
          violations: Array<{ ruleName: string; severity: string; violatingConstructs: Array<{ constructPath: string }> }>;
        }>;
      };
      violations = report.pluginReports.flatMap((plugin) =>
        plugin.violations
          .filter((v) => v.severity === 'error' || plugin.pluginName === 'AwsSolutions')
          .flatMap((v) => v.violatingConstructs.map((c) => `${plugin.pluginName}: ${v.ruleName} | ${c.constructPath}`)),
      );
    } catch {
      // no report: nothing to report
    }
    const template = JSON.parse(readFileSync(join(assemblyDir, `${stack.artifactId}.template.json`), 'utf8')) as Record<string, unknown>;
    return { template: Template.fromJSON(template), violations };
  } finally {
    rmSync(assemblyDir, { recursive: true, force: true });
  }
}

/** Every resource of a type, as [logicalId, properties]. */
export function resourcesOf(template: Template, type: string): Array<[string, Record<string, unknown>]> {
  return Object.entries(template.findResources(type)).map(([id, r]) => [id, (r as { Properties: Record<string, unknown> }).Properties]);
}

export function only<T>(items: T[], what: string): T {
  if (items.length !== 1) throw new Error(`expected exactly one ${what}, found ${items.length}`);
  return items[0]!;
}

/**
 * A generated section of a document, between its markers: equal to `text`, or
 * rewritten when BUCKETSCAN_WRITE_DOCS=1.
 */
export function expectGeneratedSection(file: string, start: string, end: string, text: string): void {
  const current = readFileSync(file, 'utf8');
  const from = current.indexOf(start);
  const to = current.indexOf(end);
  if (from < 0 || to < from) throw new Error(`${file} lacks the markers ${start} ... ${end}`);
  if (process.env['BUCKETSCAN_WRITE_DOCS'] === '1') {
    writeFileSync(file, current.slice(0, from) + text + current.slice(to + end.length));
    return;
  }
  if (current.slice(from, to + end.length) !== text) {
    throw new Error(
      `the generated section of ${file} is stale (${start.slice(0, 40)}...): BUCKETSCAN_WRITE_DOCS=1 npm --prefix deploy test rewrites it`,
    );
  }
}

/** The scanner task's worker environment, every intrinsic resolved to a name (`<LogicalId>`). */
export function workerEnvironmentOf(template: Template): Record<string, string> {
  const raw = template.toJSON() as CfnTemplate;
  const task = only(
    resourcesOf(template, 'AWS::ECS::TaskDefinition').filter(([id]) => id.startsWith('BucketScanScannerTask')),
    'task',
  );
  const worker = (task[1]['ContainerDefinitions'] as Array<{ Name: string; Environment: Array<{ Name: string; Value: unknown }> }>).find(
    (c) => c.Name === 'worker',
  )!;
  const refs = Object.fromEntries(Object.keys(raw.Resources).map((id) => [id, `<${id}>`]));
  const attributes = new Proxy({} as Record<string, string>, { get: (_t, key) => `<${String(key)}>` });
  const context = {
    refs,
    attributes,
    pseudo: {
      'AWS::Partition': 'aws',
      'AWS::Region': REGION,
      'AWS::AccountId': ACCOUNT,
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::StackName': 'Scan',
    },
  };
  return Object.fromEntries(worker.Environment.map((e) => [e.Name, String(resolveDeep(raw, e.Value, context, e.Name))]));
}
