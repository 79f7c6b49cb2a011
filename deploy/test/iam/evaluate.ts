/**
 * The IAM proof's configurations and its one evaluation: a check against a resolved
 * deployment, with @cloud-copilot/iam-simulate (AGPL-3.0, a test-only
 * devDependency of deploy/, never bundled).
 */
import assert from 'node:assert/strict';
import { anonymousPrincipal, runSimulation, type Simulation } from '@cloud-copilot/iam-simulate';
import type { Check } from './checks.ts';
import {
  ACCOUNT,
  BUCKET_KEY,
  CLAMD_IMAGE,
  type Deployment,
  EVENTBRIDGE_BUCKETS,
  READER,
  REGION,
  RESULT_BUS,
  SECURITY_TEAM,
  UPLOADS,
  VPC,
  WORKER_IMAGE,
} from './deployment.ts';

const BASE = {
  VpcId: VPC,
  SubnetIds: 'subnet-0aaaaaaaaaaaaaaaa,subnet-0bbbbbbbbbbbbbbbb',
  RouteTableIds: 'rtb-0aaaaaaaaaaaaaaaa',
  WorkerImage: WORKER_IMAGE,
  ClamdImage: CLAMD_IMAGE,
  UnprocessedBucketName: UPLOADS,
  UnprocessedPrefix: 'incoming/',
  QuarantinePrefix: 'quarantined/',
  QuarantineReaders: SECURITY_TEAM,
  WakeUp: 'function',
};
export const CONFIGURATIONS: Record<string, Record<string, string>> = {
  'FailClosedReads off, no KMS': { ...BASE, FailClosedReads: 'false' },
  'FailClosedReads on, no KMS': { ...BASE, FailClosedReads: 'true', FailClosedReaders: READER },
  'FailClosedReads off, KMS': { ...BASE, FailClosedReads: 'false', KmsKeyArns: BUCKET_KEY, MessageEncryption: 'customer-key' },
  'FailClosedReads on, KMS': {
    ...BASE,
    FailClosedReads: 'true',
    FailClosedReaders: READER,
    KmsKeyArns: BUCKET_KEY,
    MessageEncryption: 'customer-key',
  },
  // Issue 14: several sources (the uploads bucket by S3 notification, two more
  // through EventBridge) and result events, by bus name and by bus ARN.
  'EventBridge sources, result bus, KMS': {
    ...BASE,
    FailClosedReads: 'true',
    FailClosedReaders: READER,
    KmsKeyArns: BUCKET_KEY,
    MessageEncryption: 'customer-key',
    EventBridgeBucketNames: EVENTBRIDGE_BUCKETS.join(','),
    EventBridgeKeyLayout: 'any',
    ResultEventBus: RESULT_BUS,
  },
  'EventBridge sources, result bus by ARN, no KMS': {
    ...BASE,
    FailClosedReads: 'false',
    EventBridgeBucketNames: EVENTBRIDGE_BUCKETS.join(','),
    ResultEventBus: `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/${RESULT_BUS}`,
  },
};

/** The AWS default key policy (IAM policies decide), for the customer's own bucket keys. */
const DEFAULT_KEY_POLICY = {
  Version: '2012-10-17',
  Statement: [
    { Sid: 'EnableIamPolicies', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' },
  ],
};

function resourcePolicyFor(d: Deployment, resource: string): unknown {
  const s3 = /^arn:aws:s3:::([^/]+)/.exec(resource);
  if (s3) return d.resourcePolicies.get(`arn:aws:s3:::${s3[1]}`);
  if (resource === BUCKET_KEY) return DEFAULT_KEY_POLICY;
  return d.resourcePolicies.get(resource);
}

export interface Outcome {
  result: string;
  /** The statements that allowed it, as "<policy>: <Sid>". */
  allowedBy: string[];
  /** The statements that denied it explicitly. */
  deniedBy: string[];
  errors?: unknown;
}

export async function evaluate(d: Deployment, check: Check): Promise<Outcome> {
  const p = check.principal;
  let principal: Simulation['request']['principal'];
  let identityPolicies: Simulation['identityPolicies'] = [];
  let principalArn: string | undefined;
  if ('role' in p) {
    principalArn = p.role.startsWith('operator:') ? `arn:aws:iam::${ACCOUNT}:role/bucketscan-operator` : p.role;
    principal = principalArn;
    const policies = d.roles.get(p.role);
    assert.ok(policies, `no role ${p.role} in the template`);
    identityPolicies = policies.map(({ name, policy }) => ({ name, policy: { Version: '2012-10-17', ...policy } }));
  } else if ('custom' in p) {
    principalArn = p.custom;
    principal = p.custom;
    identityPolicies = [{ name: 'everything', policy: p.policy }];
  } else if ('anonymous' in p) {
    principal = anonymousPrincipal;
  } else {
    principal = p.service;
  }
  const resourcePolicy = resourcePolicyFor(d, check.resource);
  const simulation: Simulation = {
    request: {
      principal,
      action: check.action,
      resource: { resource: check.resource, accountId: ACCOUNT },
      contextVariables: {
        ...check.context,
        ...(principalArn ? { 'aws:PrincipalArn': principalArn, 'aws:PrincipalAccount': ACCOUNT } : {}),
      },
    },
    identityPolicies,
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    ...(resourcePolicy ? { resourcePolicy: { Version: '2012-10-17', ...(resourcePolicy as object) } } : {}),
  };
  const response = await runSimulation(simulation, {});
  if (response.resultType === 'error') return { result: 'Error', allowedBy: [], deniedBy: [], errors: response.errors };
  const result = response.resultType === 'single' ? response.result : response.results[0]!;
  type Matched = { policyId?: string; statement?: { Sid?: string }; explain?: { identifier?: string } };
  const analysis = result.analysis as unknown as Record<string, { allowStatements?: Matched[]; denyStatements?: Matched[] } | undefined>;
  const named = (part: string, matched: Matched) => {
    const policy = part === 'identityAnalysis' ? shortName(matched.policyId ?? 'identity policy') : 'resource policy';
    const id = matched.statement?.Sid ?? matched.explain?.identifier ?? '?';
    return /^\d+$/.test(id) ? `${policy} (statement ${id})` : `${policy}: ${id}`;
  };
  const statements = (kind: 'allowStatements' | 'denyStatements') => [
    ...new Set(['identityAnalysis', 'resourceAnalysis'].flatMap((part) => (analysis?.[part]?.[kind] ?? []).map((m) => named(part, m)))),
  ];
  return { result: response.overallResult, allowedBy: statements('allowStatements'), deniedBy: statements('denyStatements') };
}

/** A logical id as a reader would say it: BucketScanScannerWorkerPolicy1A2B3C4D -> ScannerWorkerPolicy. */
export function shortName(logicalId: string): string {
  return logicalId.replace(/^BucketScan/, '').replace(/[0-9A-F]{8}$/, '');
}
