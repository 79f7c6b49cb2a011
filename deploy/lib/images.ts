/**
 * Container images and the permission to pull them. `ecs.ContainerImage.fromRegistry`
 * grants nothing, so a task whose image lives in a private ECR repository fails with
 * CannotPullContainerError unless its execution role may pull it: this grants
 * exactly that repository (and ecr:GetAuthorizationToken, which takes only "*"),
 * for a URI known at synthesis or a template parameter alike. Images made with
 * `fromEcrRepository` or `fromAsset` need none of this: CDK grants those itself.
 */
import { Aws, Fn, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';

/** A private ECR image URI: <account>.dkr.ecr.<region>.amazonaws.com/<repository>(:<tag>|@sha256:<digest>). */
export const ECR_IMAGE_PATTERN =
  '\\d{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com/[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::[\\w][\\w.-]{0,127}|@sha256:[a-f0-9]{64})';
/** The same, or a public ECR image (public.ecr.aws/...), which needs no credentials. */
export const ECR_OR_PUBLIC_IMAGE_PATTERN = `(?:${ECR_IMAGE_PATTERN}|public\\.ecr\\.aws/[a-z0-9._/-]+(?::[\\w][\\w.-]{0,127}|@sha256:[a-f0-9]{64}))`;
export const ECR_IMAGE_CONSTRAINT =
  'must be a private ECR image URI, <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> (or @sha256:<digest>): ' +
  'the execution role is granted a pull from exactly that repository. Push the image to ECR first (docs/deploy.md, "Images").';

const ECR_IMAGE = new RegExp(`^${ECR_IMAGE_PATTERN}$`);

/** True when a URI known at synthesis is a private ECR image. */
export function isEcrImage(uri: string): boolean {
  return ECR_IMAGE.test(uri);
}

/**
 * The repository ARN of a private ECR image URI, with intrinsic functions so a
 * template parameter works too: account and region from the host name, the
 * repository from the path without its tag or digest.
 */
export function ecrRepositoryArn(uri: string): string {
  const account = Fn.select(0, Fn.split('.', uri));
  const region = Fn.select(3, Fn.split('.', uri));
  const path = Fn.select(1, Fn.split('.amazonaws.com/', uri));
  const repository = Fn.select(0, Fn.split(':', Fn.select(0, Fn.split('@', path))));
  return `arn:${Aws.PARTITION}:ecr:${region}:${account}:repository/${repository}`;
}

/** Statements that let an execution role pull from these private ECR repositories. */
export function ecrPullStatements(uris: string[]): iam.PolicyStatement[] {
  if (uris.length === 0) return [];
  return [
    new iam.PolicyStatement({
      sid: 'AuthenticateToEcr',
      actions: ['ecr:GetAuthorizationToken'],
      resources: ['*'],
    }),
    new iam.PolicyStatement({
      sid: 'PullImages',
      actions: ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'],
      resources: uris.map(ecrRepositoryArn),
    }),
  ];
}

/** Which of these image names need a grant: template parameters (checked by AllowedPattern) and concrete ECR URIs. */
export function needsEcrGrant(imageName: string): boolean {
  return Token.isUnresolved(imageName) || isEcrImage(imageName);
}
