/**
 * The code of the stack's small functions lives in deploy/lambda/*.ts, linted and
 * type-checked with the rest; at synthesis esbuild bundles one into a CommonJS
 * file that goes into the template inline (no asset bucket: `aws cloudformation
 * deploy` takes the template as it is). The Node.js runtime provides the AWS SDK.
 */
import { buildSync } from 'esbuild';
import { fileURLToPath } from 'node:url';
import type { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

export type FunctionName = 'initial-definitions' | 'preflight' | 'wake-up' | 'eventbridge-sources';

const cache = new Map<FunctionName, string>();

export function functionSource(name: FunctionName): string {
  const cached = cache.get(name);
  if (cached) return cached;
  const result = buildSync({
    entryPoints: [fileURLToPath(new URL(`../lambda/${name}.ts`, import.meta.url))],
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    external: ['@aws-sdk/*'],
    write: false,
    legalComments: 'none',
    charset: 'utf8',
  });
  const source = result.outputFiles[0]!.text;
  cache.set(name, source);
  return source;
}

export function inlineFunctionCode(name: FunctionName): lambda.Code {
  return lambda.Code.fromInline(functionSource(name));
}

/**
 * One of the stack's small functions with its own role (exactly `statements`, plus
 * writing its own log group) and a log group with a retention.
 */
export function smallFunction(
  scope: Construct,
  options: {
    code: FunctionName;
    description: string;
    timeout: Duration;
    statements: iam.PolicyStatement[];
    logRetention: logs.RetentionDays;
    environment?: Record<string, string>;
  },
): { fn: lambda.Function; role: iam.Role } {
  const logGroup = new logs.LogGroup(scope, 'Logs', { retention: options.logRetention });
  const role = new iam.Role(scope, 'Role', {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: options.description,
  });
  for (const statement of options.statements) role.addToPolicy(statement);
  role.addToPolicy(new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
  const fn = new lambda.Function(scope, 'Function', {
    runtime: lambda.Runtime.NODEJS_24_X,
    handler: 'index.handler',
    code: inlineFunctionCode(options.code),
    timeout: options.timeout,
    role,
    logGroup,
    description: options.description,
    ...(options.environment ? { environment: options.environment } : {}),
  });
  return { fn, role };
}
