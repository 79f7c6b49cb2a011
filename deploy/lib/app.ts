/**
 * Builds the CDK app: the template stack (deploy/bucketscan.template.json) with
 * cdk-nag's AwsSolutions checks attached. One function, so that `cdk synth`, the
 * template writer and the tests all synthesize exactly the same thing.
 */
import { App, DefaultStackSynthesizer, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { BucketScanTemplateStack } from './template-stack.ts';

export const STACK_NAME = 'BucketScan';

export function buildApp(options: { outdir?: string } = {}): { app: App; stack: BucketScanTemplateStack } {
  const app = new App({
    ...(options.outdir ? { outdir: options.outdir } : {}),
    // The template is checked in and deployed without CDK: no CDK metadata
    // resource, no construct paths, nothing that changes between machines.
    analyticsReporting: false,
    context: { 'aws:cdk:enable-path-metadata': false, 'aws:cdk:version-reporting': false },
  });
  const stack = new BucketScanTemplateStack(app, STACK_NAME, {
    // No bootstrap version rule: `aws cloudformation deploy` takes the template as is.
    synthesizer: new DefaultStackSynthesizer({ generateBootstrapVersionRule: false }),
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  Validations.of(stack).acknowledge({
    id: 'CloudFormation-Validate::W9052',
    reason:
      "A notice from CDK's built-in template validation that it stopped early on a large template; cfn-lint checks the whole template in the tests.",
  });
  return { app, stack };
}
