/**
 * The aws section: region, endpoint and credentials of each service, from the
 * shared AWS_* variables or the per-service AWS_S3_*, AWS_SQS_*, AWS_SNS_* ones.
 * Credentials are read here rather than left to the SDK so that keys in the .env
 * file count too; absent, the SDK's default chain applies.
 */
import type { ServiceConnection } from '../aws/clients.ts';
import { ConfigError, optionalText, url, type Parsed } from './variables.ts';

export type Service = 'S3' | 'SQS' | 'SNS' | 'EVENTS';

export interface AwsSettings {
  s3: ServiceConnection;
  sqs: ServiceConnection;
  sns: ServiceConnection;
  /** EventBridge, for the result bus (RESULT_EVENT_BUS); undefined without one. */
  events?: ServiceConnection;
}

const endpoint = url('such as http://127.0.0.1:4566');

export const AWS_VARIABLES = {
  AWS_REGION: optionalText,
  AWS_DEFAULT_REGION: optionalText,
  AWS_ENDPOINT_URL: endpoint,
  AWS_S3_ENDPOINT_URL: endpoint,
  AWS_SQS_ENDPOINT_URL: endpoint,
  AWS_SNS_ENDPOINT_URL: endpoint,
  AWS_EVENTS_ENDPOINT_URL: endpoint,
  AWS_S3_REGION: optionalText,
  AWS_SQS_REGION: optionalText,
  AWS_SNS_REGION: optionalText,
  AWS_EVENTS_REGION: optionalText,
  AWS_ACCESS_KEY_ID: optionalText,
  AWS_SECRET_ACCESS_KEY: optionalText,
  AWS_SESSION_TOKEN: optionalText,
  AWS_S3_ACCESS_KEY_ID: optionalText,
  AWS_S3_SECRET_ACCESS_KEY: optionalText,
  AWS_SQS_ACCESS_KEY_ID: optionalText,
  AWS_SQS_SECRET_ACCESS_KEY: optionalText,
  AWS_SNS_ACCESS_KEY_ID: optionalText,
  AWS_SNS_SECRET_ACCESS_KEY: optionalText,
  AWS_EVENTS_ACCESS_KEY_ID: optionalText,
  AWS_EVENTS_SECRET_ACCESS_KEY: optionalText,
};

type AwsVariables = Parsed<typeof AWS_VARIABLES>;

function sharedCredentials(v: AwsVariables): ServiceConnection['credentials'] {
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken } = v;
  if (!accessKeyId && !secretAccessKey) return undefined;
  if (!accessKeyId) throw new ConfigError('AWS_ACCESS_KEY_ID', 'is required when AWS_SECRET_ACCESS_KEY is set');
  if (!secretAccessKey) throw new ConfigError('AWS_SECRET_ACCESS_KEY', 'is required when AWS_ACCESS_KEY_ID is set');
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

function credentialsFor(service: Service, v: AwsVariables): ServiceConnection['credentials'] {
  const idName = `AWS_${service}_ACCESS_KEY_ID` as const;
  const secretName = `AWS_${service}_SECRET_ACCESS_KEY` as const;
  const accessKeyId = v[idName];
  const secretAccessKey = v[secretName];
  if (!accessKeyId && !secretAccessKey) return sharedCredentials(v);
  if (!accessKeyId) throw new ConfigError(idName, `is required when ${secretName} is set`);
  if (!secretAccessKey) throw new ConfigError(secretName, `is required when ${idName} is set`);
  return { accessKeyId, secretAccessKey };
}

/**
 * One service's connection. `preferredRegion` outranks AWS_REGION (a topic can
 * only be published to by a client of its own region); AWS_<SERVICE>_REGION
 * outranks both.
 */
export function serviceConnection(v: AwsVariables, service: Service, preferredRegion?: string): ServiceConnection {
  const region = v[`AWS_${service}_REGION`] ?? preferredRegion ?? v.AWS_REGION ?? v.AWS_DEFAULT_REGION;
  if (!region) throw new ConfigError('AWS_REGION', `is required but not set (or set AWS_${service}_REGION)`);
  return {
    region,
    endpoint: v[`AWS_${service}_ENDPOINT_URL`] ?? v.AWS_ENDPOINT_URL,
    credentials: credentialsFor(service, v),
  };
}

/** The region in an ARN (arn:<partition>:<service>:<region>:…), when it has one. */
export function regionOf(arn: string | undefined): string | undefined {
  return arn?.startsWith('arn:') ? arn.split(':')[3] || undefined : undefined;
}

/**
 * Every service; SNS in the region of `topicArn`, EventBridge (when `resultBus`
 * is set) in the region of the bus's ARN, or AWS_REGION for a bus named by name.
 */
export function awsSettings(v: AwsVariables, topicArn: string | undefined, resultBus?: string): AwsSettings {
  return {
    s3: serviceConnection(v, 'S3'),
    sqs: serviceConnection(v, 'SQS'),
    sns: serviceConnection(v, 'SNS', regionOf(topicArn)),
    ...(resultBus === undefined ? {} : { events: serviceConnection(v, 'EVENTS', regionOf(resultBus)) }),
  };
}
