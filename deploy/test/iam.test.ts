// Issue 12 §2, the IAM proven offline: every AWS request the worker and the commands
// make in the moto tests (deploy/test/iam/*.json, kept in step by those tests), and
// every call of the execution roles, the updater, freshclam and the small functions,
// evaluated by @cloud-copilot/iam-simulate (AGPL-3.0, a test-only devDependency of
// deploy/, never bundled) against the synthesized template's role, bucket, queue,
// topic and key policies, in each configuration: all must be allowed; and the deny
// list must be denied. The table in docs/deploy.md is generated from the same run.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { synthesizeTemplate } from '../lib/synth.ts';
import { checksFor } from './iam/checks.ts';
import { resolveDeployment } from './iam/deployment.ts';
import { CONFIGURATIONS, evaluate } from './iam/evaluate.ts';
import { END, type Row, renderTables, START } from './iam/table.ts';
import { expectGeneratedSection } from './support.ts';

const DOCS = fileURLToPath(new URL('../../docs/deploy.md', import.meta.url));

const template = synthesizeTemplate();

const deployments = Object.fromEntries(
  Object.entries(CONFIGURATIONS).map(([name, parameters]) => [name, resolveDeployment(template, parameters)]),
);
const rows: Row[] = [];

for (const [name, deployment] of Object.entries(deployments)) {
  describe(`IAM, ${name}`, () => {
    const checks = checksFor(deployment);
    test(`every call is allowed and every denial holds (${checks.length} requests)`, async () => {
      const wrong: string[] = [];
      for (const check of checks) {
        const outcome = await evaluate(deployment, check);
        rows.push({ configuration: name, check, outcome });
        const ok =
          check.expect === 'Allowed'
            ? outcome.result === 'Allowed'
            : outcome.result === 'ExplicitlyDenied' || outcome.result === 'ImplicitlyDenied';
        if (!ok) {
          wrong.push(
            `${check.who} ${check.call}: ${check.action} on ${check.resource} ${JSON.stringify(check.context)} -> ${outcome.result}, expected ${check.expect}` +
              (outcome.errors ? ` ${JSON.stringify(outcome.errors)}` : ''),
          );
        }
      }
      assert.deepEqual(wrong, []);
    });
  });
}

describe('the proof can fail', () => {
  const name = 'FailClosedReads on, KMS';
  const deployment = deployments[name]!;
  const checks = checksFor(deployment);
  const find = (who: string, action: string) => checks.find((c) => c.who === who && c.action === action)!;

  test("without the worker's read statement, its GetObject is denied", async () => {
    const worker = find('worker', 's3:GetObjectVersion');
    const role = (worker.principal as { role: string }).role;
    const policies = deployment.roles.get(role)!.map(({ name: policyName, policy }) => ({
      name: policyName,
      policy: { ...policy, Statement: policy.Statement.filter((s) => s['Sid'] !== 'ReadAndRemoveScannedObjects') },
    }));
    const crippled = { ...deployment, roles: new Map([...deployment.roles, [role, policies]]) };
    assert.equal((await evaluate(deployment, worker)).result, 'Allowed');
    assert.notEqual((await evaluate(crippled, worker)).result, 'Allowed');
  });

  test("without the mirror's aws:SourceVpc condition, a read from outside the VPC would be allowed", async () => {
    const outside = checks.find((c) => c.who === 'anonymous, outside the VPC')!;
    const mirrorArn = [...deployment.resourcePolicies.keys()].find((arn) => arn.includes('bucketscanmirrorbucket'))!;
    const policy = deployment.resourcePolicies.get(mirrorArn)!;
    const open = {
      ...policy,
      Statement: policy.Statement.map((s) => {
        if (s['Sid'] !== 'ReadMirrorFromTheVpc') return s;
        const { Condition: _condition, ...unconditional } = s;
        return unconditional;
      }),
    };
    const crippled = { ...deployment, resourcePolicies: new Map([...deployment.resourcePolicies, [mirrorArn, open]]) };
    assert.notEqual((await evaluate(deployment, outside)).result, 'Allowed');
    assert.equal((await evaluate(crippled, outside)).result, 'Allowed');
  });
});

describe('the proof can fail: several sources and the result bus', () => {
  const deployment = deployments['EventBridge sources, result bus, KMS']!;
  const checks = checksFor(deployment);
  const without = (predicate: (policyName: string, statement: Record<string, unknown>) => boolean): typeof deployment => ({
    ...deployment,
    roles: new Map(
      [...deployment.roles].map(([role, policies]) => [
        role,
        policies.map(({ name, policy }) => ({
          name,
          policy: { ...policy, Statement: policy.Statement.filter((s) => !predicate(name, s)) },
        })),
      ]),
    ),
  });

  test("without the EventBridge sources' worker policy, the worker cannot read their objects", async () => {
    const read = checks.find((c) => c.who === 'worker' && c.call === 's3:GetObjectVersion (EventBridge source)')!;
    assert.equal((await evaluate(deployment, read)).result, 'Allowed');
    const crippled = without((name) => name.startsWith('EventBridgeSourcesWorkerPolicy'));
    assert.notEqual((await evaluate(crippled, read)).result, 'Allowed');
  });

  test('without the result bus statement, PutEvents is denied', async () => {
    const put = checks.find((c) => c.action === 'events:PutEvents' && c.expect === 'Allowed')!;
    assert.equal((await evaluate(deployment, put)).result, 'Allowed');
    const crippled = without((_name, statement) => statement['Sid'] === 'PublishResultEvents');
    assert.notEqual((await evaluate(crippled, put)).result, 'Allowed');
  });

  test("without the inbound queue's EventBridge statement, the rule's events are refused", async () => {
    const deliver = checks.find((c) => c.who === 'EventBridge' && c.action === 'sqs:SendMessage' && c.expect === 'Allowed')!;
    assert.equal((await evaluate(deployment, deliver)).result, 'Allowed');
    const inbound = deliver.resource;
    const policy = deployment.resourcePolicies.get(inbound)!;
    const closed = { ...policy, Statement: policy.Statement.filter((s) => s['Sid'] !== 'AllowEventBridgeSources') };
    const crippled = { ...deployment, resourcePolicies: new Map([...deployment.resourcePolicies, [inbound, closed]]) };
    assert.notEqual((await evaluate(crippled, deliver)).result, 'Allowed');
  });
});

test('docs/deploy.md has the table of every call and the statement that allows it, as this run made it', () => {
  assert.ok(rows.length > 0, 'the IAM checks ran first');
  expectGeneratedSection(
    DOCS,
    START,
    END,
    renderTables(rows, Object.keys(CONFIGURATIONS), (configuration) => deployments[configuration]!),
  );
});
