/**
 * A recording HTTP proxy for the moto (fidelity) tests: the worker and the commands
 * talk to moto through it, and it writes down each request as IAM sees it, the
 * action (GetObject with a version is s3:GetObjectVersion, HeadObject is
 * s3:GetObject, a CopyObject checks the source read, the destination write and the
 * tagging, SendMessageBatch is sqs:SendMessage ...), the resource ARN and the
 * condition keys that matter (s3:ExistingObjectTag/<key>, s3:RequestObjectTagKeys).
 * deploy/test/iam.test.ts evaluates every recorded request against the synthesized
 * template's policies; `expectFixture` keeps the checked-in list (deploy/test/iam/)
 * in step with what the code really calls.
 *
 * Names are written as placeholders ({unprocessed}, {inbound}, {key} ...), so the
 * list does not depend on a test's random keys and maps onto any deployment.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetObjectTaggingCommand, S3Client } from '@aws-sdk/client-s3';

/** One authorization check IAM makes for a request. */
export interface IamCall {
  /** The API call, e.g. "S3:CopyObject". */
  operation: string;
  /** The IAM action checked, e.g. "s3:GetObjectVersion". */
  action: string;
  /** The resource, with placeholders: arn:aws:s3:::{unprocessed}/{key}. */
  resource: string;
  /** Condition keys from the request and the resource's state (values as strings or lists). */
  context: Record<string, string | string[]>;
}

export interface RecorderNames {
  buckets: Record<string, string>;
  /** Queue name to placeholder; any other queue is {inbound}. */
  queues: Record<string, string>;
  topics: Record<string, string>;
  /** The status tag key the context reports on (s3:ExistingObjectTag/<key>). */
  statusTag: string;
}

export interface IamRecorder {
  endpoint: string;
  calls(): IamCall[];
  stop(): Promise<void>;
}

const FIXTURES = new URL('../../deploy/test/iam/', import.meta.url);

export async function startIamRecorder(target: string, names: RecorderNames): Promise<IamRecorder> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const moto = new S3Client({
    region: 'us-east-1',
    endpoint: target,
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const seen = new Map<string, IamCall>();
  const record = (call: IamCall) => seen.set(JSON.stringify(call), call);

  const tagsOf = async (bucket: string, key: string, versionId?: string): Promise<Record<string, string> | undefined> => {
    try {
      const { TagSet = [] } = await moto.send(
        new GetObjectTaggingCommand({ Bucket: bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }),
      );
      return Object.fromEntries(TagSet.map((t) => [t.Key!, t.Value!]));
    } catch {
      return undefined; // no such object (yet)
    }
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      void (async () => {
        try {
          for (const call of await iamCalls(req.method ?? 'GET', req.url ?? '/', req.headers, body, names, tagsOf)) record(call);
        } catch (error) {
          record({ operation: 'unclassified', action: String(error), resource: req.url ?? '', context: {} });
        }
        const forward = httpRequest(
          { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent },
          (response) => {
            res.writeHead(response.statusCode ?? 502, response.headers);
            response.pipe(res);
          },
        );
        forward.on('error', (error) => {
          if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
          res.end(`recorder: ${error.message}`);
        });
        forward.end(body);
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls: () => [...seen.values()].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
      moto.destroy();
    },
  };
}

/**
 * Checks the recorded calls against deploy/test/iam/<name>.json: a call the code
 * makes that the list lacks (and so the IAM proof has not evaluated) fails, and so
 * does a listed call no test makes any more. BUCKETSCAN_IAM_FIXTURE=write rewrites it.
 */
export function expectFixture(name: string, calls: IamCall[]): void {
  const file = new URL(`${name}.json`, FIXTURES);
  const text = `${JSON.stringify(calls, null, 2)}\n`;
  if (process.env['BUCKETSCAN_IAM_FIXTURE'] === 'write') {
    writeFileSync(file, text);
    return;
  }
  const listed = JSON.parse(readFileSync(file, 'utf8')) as IamCall[];
  const key = (call: IamCall) => JSON.stringify(call);
  const known = new Set(listed.map(key));
  const made = new Set(calls.map(key));
  const added = calls.filter((call) => !known.has(key(call)));
  const gone = listed.filter((call) => !made.has(key(call)));
  assert.deepEqual(
    { added, gone },
    { added: [], gone: [] },
    `the AWS calls recorded differ from deploy/test/iam/${name}.json; check the IAM proof (npm --prefix deploy test) and rewrite the list with ` +
      `BUCKETSCAN_IAM_FIXTURE=write npm run test:fidelity`,
  );
}

type TagLookup = (bucket: string, key: string, versionId?: string) => Promise<Record<string, string> | undefined>;

/** What IAM checks for one HTTP request to S3, SQS or SNS. */
export async function iamCalls(
  method: string,
  url: string,
  headers: IncomingHttpHeaders,
  body: Buffer,
  names: RecorderNames,
  tagsOf: TagLookup,
): Promise<IamCall[]> {
  const target = headers['x-amz-target'];
  if (typeof target === 'string' && target.startsWith('AmazonSQS.')) return sqsCalls(target.slice('AmazonSQS.'.length), body, names);
  const form = new URLSearchParams(body.toString('utf8'));
  if (form.get('Action') && form.get('Version') === '2010-03-31') {
    const action = form.get('Action')!;
    const topic = form.get('TopicArn') ?? '';
    const topicName = topic.split(':').at(-1) ?? '';
    return [
      {
        operation: `SNS:${action}`,
        action: `sns:${action}`,
        resource: `arn:aws:sns:{region}:{account}:${names.topics[topicName] ?? topicName}`,
        context: {},
      },
    ];
  }
  return s3Calls(method, url, headers, body, names, tagsOf);
}

function sqsCalls(operation: string, body: Buffer, names: RecorderNames): IamCall[] {
  const input = JSON.parse(body.toString('utf8') || '{}') as {
    QueueUrl?: string;
    QueueName?: string;
    SourceArn?: string;
    DestinationArn?: string;
  };
  const queueName = input.QueueName ?? input.QueueUrl?.split('/').at(-1) ?? input.SourceArn?.split(':').at(-1) ?? '';
  const placeholder = names.queues[queueName] ?? '{inbound}';
  const action = `sqs:${operation.replace(/Batch$/, '')}`;
  return [{ operation: `SQS:${operation}`, action, resource: `arn:aws:sqs:{region}:{account}:${placeholder}`, context: {} }];
}

async function s3Calls(
  method: string,
  url: string,
  headers: IncomingHttpHeaders,
  body: Buffer,
  names: RecorderNames,
  tagsOf: TagLookup,
): Promise<IamCall[]> {
  const parsed = new URL(url, 'http://recorder');
  const query = parsed.searchParams;
  const [bucket = '', ...rest] = parsed.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const key = rest.join('/');
  const versionId = query.get('versionId') ?? undefined;
  const bucketPlaceholder = names.buckets[bucket] ?? bucket;
  const objectArn = (k: string, b = bucketPlaceholder) => `arn:aws:s3:::${b}/${keyPlaceholder(k)}`;
  const bucketArn = `arn:aws:s3:::${bucketPlaceholder}`;
  const statusContext = async (b: string, k: string, v?: string) => {
    const tags = await tagsOf(b, k, v);
    const value = tags?.[names.statusTag];
    return value === undefined ? {} : { [`s3:ExistingObjectTag/${names.statusTag}`]: value };
  };
  const requestTagKeys = (tagging: string | undefined): IamCall['context'] => {
    const keys = tagging ? [...new URLSearchParams(tagging).keys()] : [];
    return keys.length > 0 ? { 's3:RequestObjectTagKeys': [...new Set(keys)].sort() } : {};
  };
  const call = (operation: string, action: string, resource: string, context: IamCall['context'] = {}): IamCall => ({
    operation: `S3:${operation}`,
    action,
    resource,
    context,
  });

  if (!key) {
    if (method === 'GET' && query.has('versions')) return [call('ListObjectVersions', 's3:ListBucketVersions', bucketArn)];
    if (method === 'GET' && query.has('versioning')) return [call('GetBucketVersioning', 's3:GetBucketVersioning', bucketArn)];
    if (method === 'GET' || method === 'HEAD')
      return [call(method === 'HEAD' ? 'HeadBucket' : 'ListObjectsV2', 's3:ListBucket', bucketArn)];
    return [call(`${method}Bucket`, `s3:${method}Bucket?`, bucketArn)];
  }
  const versioned = (plain: string, withVersion: string) => (versionId ? withVersion : plain);
  switch (method) {
    case 'GET':
      if (query.has('tagging')) {
        return [
          call(
            'GetObjectTagging',
            versioned('s3:GetObjectTagging', 's3:GetObjectVersionTagging'),
            objectArn(key),
            await statusContext(bucket, key, versionId),
          ),
        ];
      }
      return [
        call('GetObject', versioned('s3:GetObject', 's3:GetObjectVersion'), objectArn(key), await statusContext(bucket, key, versionId)),
      ];
    case 'HEAD':
      return [
        call('HeadObject', versioned('s3:GetObject', 's3:GetObjectVersion'), objectArn(key), await statusContext(bucket, key, versionId)),
      ];
    case 'DELETE':
      if (query.has('uploadId')) return [call('AbortMultipartUpload', 's3:AbortMultipartUpload', objectArn(key))];
      return [
        call(
          'DeleteObject',
          versioned('s3:DeleteObject', 's3:DeleteObjectVersion'),
          objectArn(key),
          await statusContext(bucket, key, versionId),
        ),
      ];
    case 'POST':
      if (query.has('uploads')) {
        const tagging = headerText(headers['x-amz-tagging']);
        return [
          call('CreateMultipartUpload', 's3:PutObject', objectArn(key), requestTagKeys(tagging)),
          ...(tagging ? [call('CreateMultipartUpload', 's3:PutObjectTagging', objectArn(key), requestTagKeys(tagging))] : []),
        ];
      }
      if (query.has('uploadId')) return [call('CompleteMultipartUpload', 's3:PutObject', objectArn(key))];
      return [call('PostObject', 's3:PutObject', objectArn(key))];
    case 'PUT': {
      if (query.has('tagging')) {
        const keys = [...body.toString('utf8').matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]!);
        return [
          call('PutObjectTagging', versioned('s3:PutObjectTagging', 's3:PutObjectVersionTagging'), objectArn(key), {
            ...(await statusContext(bucket, key, versionId)),
            's3:RequestObjectTagKeys': [...new Set(keys)].sort(),
          }),
        ];
      }
      const copySource = headerText(headers['x-amz-copy-source']);
      const tagging = headerText(headers['x-amz-tagging']);
      if (!copySource) {
        return [
          call('PutObject', 's3:PutObject', objectArn(key), requestTagKeys(tagging)),
          ...(tagging ? [call('PutObject', 's3:PutObjectTagging', objectArn(key), requestTagKeys(tagging))] : []),
        ];
      }
      // The copy source: /bucket/key?versionId=..., URL-encoded.
      const source = new URL(`http://source/${decodeURIComponent(copySource.replace(/^\//, '')).replace(/\?.*$/, '')}`);
      const sourceVersion = /[?&]versionId=([^&]+)/.exec(copySource)?.[1];
      const [sourceBucket = '', ...sourceRest] = source.pathname.split('/').filter(Boolean);
      const sourceKey = sourceRest.join('/');
      const sourceArn = objectArn(sourceKey, names.buckets[sourceBucket] ?? sourceBucket);
      const sourceContext = await statusContext(sourceBucket, sourceKey, sourceVersion);
      const operation = query.has('uploadId') ? 'UploadPartCopy' : 'CopyObject';
      const calls = [
        call(operation, 's3:PutObject', objectArn(key), requestTagKeys(tagging)),
        call(operation, sourceVersion ? 's3:GetObjectVersion' : 's3:GetObject', sourceArn, sourceContext),
      ];
      if (operation === 'CopyObject') {
        const directive = headerText(headers['x-amz-tagging-directive']) ?? 'COPY';
        if (directive === 'REPLACE' && tagging) calls.push(call(operation, 's3:PutObjectTagging', objectArn(key), requestTagKeys(tagging)));
        if (directive === 'COPY') {
          const sourceTags = await tagsOf(sourceBucket, sourceKey, sourceVersion);
          if (sourceTags && Object.keys(sourceTags).length > 0) {
            // Copying the tags reads them from the source and writes them on the destination.
            calls.push(call(operation, sourceVersion ? 's3:GetObjectVersionTagging' : 's3:GetObjectTagging', sourceArn, sourceContext));
            calls.push(
              call(operation, 's3:PutObjectTagging', objectArn(key), { 's3:RequestObjectTagKeys': Object.keys(sourceTags).sort() }),
            );
          }
        }
      }
      return calls;
    }
    default:
      return [call(method, `s3:${method}?`, objectArn(key))];
  }
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Keys as placeholders: {key}, and the report written beside a quarantined file. */
function keyPlaceholder(key: string): string {
  return key.endsWith('.report.json') ? '{key}.report.json' : '{key}';
}
