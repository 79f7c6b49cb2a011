/**
 * The Preflight custom resource (deploy/lib/bucketscan.ts): before anything that
 * could crash-loop is created, it checks what the template's parameters cannot,
 * and fails the stack with one message naming every problem:
 * - each task subnet reaches the internet (the definitions updater downloads from
 *   database.clamav.net): a NAT gateway, or an internet gateway with a public IP;
 * - each task subnet's route table has an S3 gateway endpoint (the mirror is read
 *   through it);
 * - with fail-closed reads, each bucket they cover is versioned (without versions
 *   no CLEAN tag is ever written, and every file stays locked out).
 */
import { DescribeRouteTablesCommand, DescribeVpcEndpointsCommand, EC2Client, type RouteTable, type VpcEndpoint } from '@aws-sdk/client-ec2';
import { GetBucketVersioningCommand, S3Client } from '@aws-sdk/client-s3';
import { type CustomResourceEvent, errorText, type Fetch, type LambdaContext, sendResponse } from './cfn-response.ts';

export interface PreflightProperties {
  VpcId: string;
  Subnets: string[];
  AssignPublicIp: string;
  /** 'true' when fail-closed reads are on. */
  RequireVersioning?: string;
  /** The bucket fail-closed reads cover (a single-bucket deployment)… */
  Bucket?: string;
  /** …or each of them (a deployment of several sources). */
  Buckets?: string[];
}

export interface Dependencies {
  ec2: Pick<EC2Client, 'send'>;
  s3: Pick<S3Client, 'send'>;
  fetch?: Fetch;
}

/** The route table a subnet uses: its own association, else the VPC's main table. Pure. */
export function routeTableOf(subnet: string, tables: RouteTable[]): RouteTable | undefined {
  return (
    tables.find((t) => t.Associations?.some((a) => a.SubnetId === subnet)) ??
    tables.find((t) => t.Associations?.some((a) => a.Main === true))
  );
}

/** What is wrong with the task subnets' network paths, one sentence each. Pure. */
export function networkProblems(subnets: string[], tables: RouteTable[], endpoints: VpcEndpoint[], assignPublicIp: boolean): string[] {
  const problems: string[] = [];
  const s3Gateways = new Set(
    endpoints.filter((e) => e.VpcEndpointType === 'Gateway' && /\.s3$/.test(e.ServiceName ?? '')).map((e) => e.VpcEndpointId),
  );
  for (const subnet of subnets) {
    const table = routeTableOf(subnet, tables);
    if (!table) {
      problems.push(`subnet ${subnet}: no route table found`);
      continue;
    }
    const routes = (table.Routes ?? []).filter((r) => r.State !== 'blackhole');
    const internet = routes.find((r) => r.DestinationCidrBlock === '0.0.0.0/0');
    if (!internet) {
      problems.push(
        `subnet ${subnet} (${table.RouteTableId}) has no route to the internet (0.0.0.0/0): the definitions updater downloads ` +
          'from database.clamav.net, so it needs a NAT gateway, or a public subnet with AssignPublicIp=ENABLED',
      );
    } else if (internet.GatewayId?.startsWith('igw-') && !assignPublicIp) {
      problems.push(
        `subnet ${subnet} (${table.RouteTableId}) routes to the internet gateway ${internet.GatewayId} but AssignPublicIp is DISABLED: ` +
          'tasks without a public IP cannot use it; set AssignPublicIp=ENABLED, or use private subnets with a NAT gateway',
      );
    }
    const s3 = routes.some((r) => r.DestinationPrefixListId && r.GatewayId && s3Gateways.has(r.GatewayId));
    if (!s3) {
      problems.push(
        `subnet ${subnet} (${table.RouteTableId}) has no S3 gateway endpoint: the tasks read the definitions mirror through one ` +
          '(aws:SourceVpc); give the stack RouteTableIds to create it, or add one to this route table',
      );
    }
  }
  return problems;
}

export async function problemsFor(properties: PreflightProperties, deps: Dependencies): Promise<string[]> {
  const vpc = [{ Name: 'vpc-id', Values: [properties.VpcId] }];
  const { RouteTables = [] } = await deps.ec2.send(new DescribeRouteTablesCommand({ Filters: vpc }));
  const { VpcEndpoints = [] } = await deps.ec2.send(new DescribeVpcEndpointsCommand({ Filters: vpc }));
  const problems = networkProblems(properties.Subnets, RouteTables, VpcEndpoints, properties.AssignPublicIp === 'ENABLED');
  const buckets = [...(properties.Bucket ? [properties.Bucket] : []), ...(properties.Buckets ?? [])];
  for (const bucket of properties.RequireVersioning === 'true' ? buckets : []) {
    const { Status } = await deps.s3.send(new GetBucketVersioningCommand({ Bucket: bucket }));
    if (Status !== 'Enabled') {
      problems.push(
        `the bucket ${bucket} is not versioned (versioning ${Status ?? 'never enabled'}) and FailClosedReads is on: ` +
          'bucketscan writes the CLEAN tag only on the version it scanned, so without versioning every file would stay unreadable; ' +
          `enable versioning (aws s3api put-bucket-versioning --bucket ${bucket} --versioning-configuration Status=Enabled) or turn FailClosedReads off`,
      );
    }
  }
  return problems;
}

export async function handle(event: CustomResourceEvent<PreflightProperties>, _context: LambdaContext, deps: Dependencies): Promise<void> {
  const physicalResourceId = event.PhysicalResourceId ?? `preflight-${event.RequestId}`;
  if (event.RequestType === 'Delete') {
    await sendResponse(event, { status: 'SUCCESS', physicalResourceId }, deps.fetch);
    return;
  }
  let reason: string | undefined;
  try {
    const problems = await problemsFor(event.ResourceProperties, deps);
    if (problems.length > 0) reason = `bucketscan preflight: ${problems.join('. ')}`;
  } catch (error) {
    reason = `bucketscan preflight could not check the deployment: ${errorText(error)}`;
  }
  console.log(JSON.stringify({ reason: reason ?? 'ok' }));
  await sendResponse(
    event,
    reason ? { status: 'FAILED', reason, physicalResourceId } : { status: 'SUCCESS', physicalResourceId },
    deps.fetch,
  );
}

export async function handler(event: CustomResourceEvent<PreflightProperties>, context: LambdaContext): Promise<void> {
  await handle(event, context, { ec2: new EC2Client({}), s3: new S3Client({}) });
}
