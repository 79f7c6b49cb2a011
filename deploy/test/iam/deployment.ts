/**
 * The checked-in template as one deployment would be: every parameter given, every
 * condition decided, every intrinsic resolved to a concrete name or ARN in one
 * account and region; then its IAM as the simulator needs it: each role's
 * policies, and the resource policies of buckets, queues, topics and keys.
 */
import { isConditionTrue, logicalIdOf, resolveDeep, type ResolveContext, type Template } from '../../lib/template-env.ts';

export const ACCOUNT = '111122223333';
export const REGION = 'eu-west-1';
export const STACK = 'BucketScan';
export const VPC = 'vpc-0a1b2c3d4e5f60718';
export const UPLOADS = 'example-uploads';
export const WORKER_IMAGE = `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/bucketscan:1.0.0`;
export const CLAMD_IMAGE = `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/team/bucketscan-clamd@sha256:${'ab'.repeat(32)}`;
/** The customer's own key for SSE-KMS buckets (KmsKeyArns). */
export const BUCKET_KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/0f0e0d0c-0b0a-0908-0706-050403020100`;
export const READER = `arn:aws:iam::${ACCOUNT}:role/auditor`;
export const SECURITY_TEAM = `arn:aws:iam::${ACCOUNT}:role/security-team`;
/** More buckets announced through EventBridge (EventBridgeBucketNames), and the result bus (ResultEventBus). */
export const EVENTBRIDGE_BUCKETS = ['partner-drop', 'archive-intake'];
export const RESULT_BUS = 'scan-results';

export type Document = { Version?: string; Statement: Array<Record<string, unknown>> };

export interface Deployment {
  parameters: Record<string, string>;
  /** Logical id to the concrete value of Ref / Fn::GetAtt. */
  ref(logicalId: string): string;
  attribute(logicalId: string, name: string): string;
  /** The logical id of the one resource of a type whose id starts with prefix + an 8-digit hash. */
  id(type: string, prefix: string): string;
  /** Role ARN to its identity policies (conditions decided). */
  roles: Map<string, Array<{ name: string; policy: Document }>>;
  /** Resource ARN (bucket, queue, topic, key) to its resource policy. */
  resourcePolicies: Map<string, Document>;
  exists(logicalId: string): boolean;
}

/** Concrete values for every resource, by type, in the one account and region. */
function localValues(template: Template): Required<Pick<ResolveContext, 'refs' | 'attributes'>> {
  const refs: Record<string, string> = {};
  const attributes: Record<string, string> = {};
  const arn = (service: string, resource: string, region = REGION) => `arn:aws:${service}:${region}:${ACCOUNT}:${resource}`;
  for (const [id, resource] of Object.entries(template.Resources)) {
    const name = id.toLowerCase();
    const set = (ref: string, attrs: Record<string, string> = {}) => {
      refs[id] = ref;
      for (const [attribute, value] of Object.entries(attrs)) attributes[`${id}.${attribute}`] = value;
    };
    switch (resource.Type) {
      case 'AWS::S3::Bucket':
        set(name, { Arn: `arn:aws:s3:::${name}`, RegionalDomainName: `${name}.s3.${REGION}.amazonaws.com` });
        break;
      case 'AWS::SQS::Queue':
        set(`https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${id}`, { Arn: arn('sqs', id), QueueName: id });
        break;
      case 'AWS::SNS::Topic':
        set(arn('sns', id), { TopicArn: arn('sns', id), TopicName: id });
        break;
      case 'AWS::IAM::Role':
        set(id, { Arn: `arn:aws:iam::${ACCOUNT}:role/${id}`, RoleId: `AROA${id.slice(0, 12).toUpperCase()}` });
        break;
      case 'AWS::KMS::Key':
        set(`key-${name}`, { Arn: arn('kms', `key/${name}`), KeyId: name });
        break;
      case 'AWS::ECS::Cluster':
        set(id, { Arn: arn('ecs', `cluster/${id}`) });
        break;
      case 'AWS::ECS::Service': {
        // arn:aws:ecs:<region>:<account>:service/<cluster name>/<service name>
        const cluster = ((resource.Properties?.['Cluster'] as { Ref?: string } | undefined)?.Ref ?? 'cluster').toString();
        set(arn('ecs', `service/${cluster}/${id}`), { Name: id, ServiceArn: arn('ecs', `service/${cluster}/${id}`) });
        break;
      }
      case 'AWS::ECS::TaskDefinition':
        set(arn('ecs', `task-definition/${id}:1`), { TaskDefinitionArn: arn('ecs', `task-definition/${id}:1`) });
        break;
      case 'AWS::Logs::LogGroup':
        set(id, { Arn: arn('logs', `log-group:${id}:*`) });
        break;
      case 'AWS::Lambda::Function':
        set(id, { Arn: arn('lambda', `function:${id}`) });
        break;
      case 'AWS::EC2::SecurityGroup':
        set(`sg-${name.slice(0, 17)}`, { GroupId: `sg-${name.slice(0, 17)}` });
        break;
      case 'AWS::Events::Rule':
        set(id, { Arn: arn('events', `rule/${id}`) });
        break;
      default:
        set(id);
    }
  }
  return { refs, attributes };
}

export function resolveDeployment(template: Template, parameters: Record<string, string>): Deployment {
  const context: ResolveContext = {
    parameters,
    ...localValues(template),
    pseudo: {
      'AWS::Region': REGION,
      'AWS::AccountId': ACCOUNT,
      'AWS::StackName': STACK,
      'AWS::Partition': 'aws',
      'AWS::URLSuffix': 'amazonaws.com',
    },
  };
  const exists = (logicalId: string) => {
    const condition = template.Resources[logicalId]?.Condition;
    return template.Resources[logicalId] !== undefined && (!condition || isConditionTrue(template, condition, context, logicalId));
  };
  const deep = <T>(value: unknown, where: string) => resolveDeep(template, value, context, where) as T;
  const roles = new Map<string, Array<{ name: string; policy: Document }>>();
  const resourcePolicies = new Map<string, Document>();
  const addRolePolicy = (roleArn: string, name: string, policy: Document) => {
    const list = roles.get(roleArn) ?? [];
    list.push({ name, policy });
    roles.set(roleArn, list);
  };
  const roleArnOf = (roleRef: unknown, where: string) => {
    const name = deep<string>(roleRef, where);
    return `arn:aws:iam::${ACCOUNT}:role/${name}`;
  };
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (!exists(id)) continue;
    const props = resource.Properties ?? {};
    switch (resource.Type) {
      case 'AWS::IAM::Role': {
        const arn = `arn:aws:iam::${ACCOUNT}:role/${id}`;
        if (!roles.has(arn)) roles.set(arn, []);
        for (const inline of (props['Policies'] as Array<{ PolicyName: string; PolicyDocument: unknown }> | undefined) ?? []) {
          addRolePolicy(arn, inline.PolicyName, deep<Document>(inline.PolicyDocument, id));
        }
        if (props['ManagedPolicyArns'])
          addRolePolicy(arn, `${id}-managed`, { Statement: [{ Effect: 'Allow', Action: 'logs:*', Resource: '*' }] });
        break;
      }
      case 'AWS::IAM::Policy':
      case 'AWS::IAM::ManagedPolicy': {
        const document = deep<Document>(props['PolicyDocument'], id);
        for (const role of (props['Roles'] as unknown[] | undefined) ?? []) addRolePolicy(roleArnOf(role, id), id, document);
        // A managed policy for users to attach: evaluated as the only policy of a role of its own.
        if (resource.Type === 'AWS::IAM::ManagedPolicy') addRolePolicy(`operator:${id}`, id, document);
        break;
      }
      case 'AWS::S3::BucketPolicy': {
        const bucket = deep<string>(props['Bucket'], id);
        const document = deep<Document>(props['PolicyDocument'], id);
        const arn = `arn:aws:s3:::${bucket}`;
        // Two policies on one bucket would be a deployment error; merge them here to notice in the statements.
        const existing = resourcePolicies.get(arn);
        resourcePolicies.set(arn, existing ? { Statement: [...existing.Statement, ...document.Statement] } : document);
        break;
      }
      case 'AWS::SQS::QueuePolicy': {
        const document = deep<Document>(props['PolicyDocument'], id);
        for (const url of deep<string[]>(props['Queues'], id)) {
          const name = url.split('/').at(-1)!;
          resourcePolicies.set(`arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`, document);
        }
        break;
      }
      case 'AWS::SNS::TopicPolicy': {
        const document = deep<Document>(props['PolicyDocument'], id);
        for (const topic of deep<string[]>(props['Topics'], id)) resourcePolicies.set(topic, document);
        break;
      }
      case 'AWS::KMS::Key':
        resourcePolicies.set(context.attributes![`${id}.Arn`]!, deep<Document>(props['KeyPolicy'], id));
        break;
      default:
        break;
    }
  }
  return {
    parameters,
    ref: (logicalId) => context.refs![logicalId]!,
    attribute: (logicalId, name) => context.attributes![`${logicalId}.${name}`]!,
    id: (type, prefix) => logicalIdOf(template, type, prefix),
    roles,
    resourcePolicies,
    exists,
  };
}
