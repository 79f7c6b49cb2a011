/**
 * Reads the containers' environment out of a synthesized CloudFormation template
 * and resolves its intrinsic functions to local values, so that a test can start
 * the worker and clamd with exactly the configuration a deployment gives them.
 * Anything it cannot resolve is an error, never a guess.
 */

export type Template = {
  Parameters?: Record<string, { Default?: unknown; Type?: string }>;
  Conditions?: Record<string, unknown>;
  Mappings?: Record<string, Record<string, Record<string, unknown>>>;
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown>; Condition?: string }>;
};

/** What `Ref: AWS::NoValue` resolves to: removed from the object or list that holds it. */
export const NO_VALUE: unique symbol = Symbol('AWS::NoValue');

export interface ResolveContext {
  /** Values for parameters; a parameter not given here takes its Default. */
  parameters?: Record<string, string>;
  /** Ref of a resource: its logical id to the local value (a queue URL, a bucket name, a topic ARN). */
  refs?: Record<string, string>;
  /** Fn::GetAtt: `<logical id>.<attribute>` to the local value. */
  attributes?: Record<string, string>;
  /** AWS::Region, AWS::AccountId, AWS::StackName, AWS::Partition, AWS::URLSuffix. */
  pseudo?: Record<string, string>;
}

interface ContainerDefinition {
  Name: string;
  /** An entry may be an Fn::If whose false branch is AWS::NoValue (a variable set only under a condition). */
  Environment?: Array<{ Name: string; Value: unknown } | Record<string, unknown>>;
}

/** The task definition that holds a container of each of these names (the service's, not the updater's). */
export function findTaskDefinition(template: Template, containerNames: string[]): { logicalId: string; containers: ContainerDefinition[] } {
  const matches = Object.entries(template.Resources).filter(([, resource]) => {
    if (resource.Type !== 'AWS::ECS::TaskDefinition') return false;
    const names = ((resource.Properties?.['ContainerDefinitions'] ?? []) as ContainerDefinition[]).map((c) => c.Name);
    return containerNames.every((name) => names.includes(name));
  });
  if (matches.length !== 1) {
    throw new Error(`expected one task definition with containers ${containerNames.join(', ')}, found ${matches.length}`);
  }
  const [logicalId, resource] = matches[0]!;
  return { logicalId, containers: resource.Properties!['ContainerDefinitions'] as ContainerDefinition[] };
}

/** One container's environment, every value resolved to a string. */
export function containerEnvironment(template: Template, containerName: string, context: ResolveContext): Record<string, string> {
  const { containers } = findTaskDefinition(template, [containerName]);
  const container = containers.find((c) => c.Name === containerName)!;
  const environment: Record<string, string> = {};
  const entries = resolveDeep(template, container.Environment ?? [], context, `${containerName}.Environment`) as Array<{
    Name: string;
    Value: unknown;
  }>;
  for (const { Name, Value } of entries) {
    const value = resolve(template, Value, context, `${containerName}.${Name}`);
    if (typeof value !== 'string' && typeof value !== 'number') {
      throw new Error(`${containerName}.${Name}: resolved to ${JSON.stringify(value)}, not a string`);
    }
    environment[Name] = String(value);
  }
  return environment;
}

/** Resolves the intrinsics environment values use: Ref, Fn::GetAtt, Fn::Join, Fn::Select, Fn::FindInMap, Fn::Split. */
export function resolve(template: Template, value: unknown, context: ResolveContext, where: string): unknown {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.map((item) => resolve(template, item, context, where));
  if (value === null || typeof value !== 'object') throw new Error(`${where}: cannot resolve ${JSON.stringify(value)}`);
  const keys = Object.keys(value);
  if (keys.length !== 1) throw new Error(`${where}: not an intrinsic: ${JSON.stringify(value)}`);
  const [fn] = keys as [string];
  const arg = (value as Record<string, unknown>)[fn];
  switch (fn) {
    case 'Ref':
      return ref(template, arg as string, context, where);
    case 'Fn::GetAtt': {
      const [logicalId, attribute] = arg as [string, string];
      const key = `${logicalId}.${attribute}`;
      const found = context.attributes?.[key];
      if (found === undefined) throw new Error(`${where}: no local value for Fn::GetAtt ${key}`);
      return found;
    }
    case 'Fn::Join': {
      const [separator, parts] = arg as [string, unknown];
      const list = resolve(template, parts, context, where) as unknown[];
      return list.flat().map(String).join(separator);
    }
    case 'Fn::Select': {
      const [index, list] = arg as [unknown, unknown];
      const items = resolve(template, list, context, where) as unknown[];
      return items[Number(resolve(template, index, context, where))];
    }
    case 'Fn::Split': {
      const [separator, source] = arg as [string, unknown];
      return String(resolve(template, source, context, where)).split(separator);
    }
    case 'Fn::If': {
      const [condition, whenTrue, whenFalse] = arg as [string, unknown, unknown];
      return resolveDeep(template, isConditionTrue(template, condition, context, where) ? whenTrue : whenFalse, context, where);
    }
    case 'Fn::FindInMap': {
      const [map, top, second] = (arg as unknown[]).map((part) => String(resolve(template, part, context, where)));
      const found = template.Mappings?.[map!]?.[top!]?.[second!];
      if (found === undefined) throw new Error(`${where}: no mapping ${map}.${top}.${second}`);
      return found;
    }
    default:
      throw new Error(`${where}: intrinsic ${fn} is not supported here`);
  }
}

/** True when the template's condition holds for these parameters. */
export function isConditionTrue(template: Template, name: string, context: ResolveContext, where: string): boolean {
  const expression = template.Conditions?.[name];
  if (expression === undefined) throw new Error(`${where}: no condition ${name}`);
  return Boolean(evaluateCondition(template, expression, context, where));
}

function evaluateCondition(template: Template, expression: unknown, context: ResolveContext, where: string): unknown {
  if (expression === null || typeof expression !== 'object' || Array.isArray(expression)) return expression;
  const [fn, arg] = Object.entries(expression)[0] as [string, unknown];
  const all = () => (arg as unknown[]).map((item) => evaluateCondition(template, item, context, where));
  switch (fn) {
    case 'Fn::Equals': {
      const [a, b] = (arg as unknown[]).map((item) => resolveDeep(template, item, context, where));
      return JSON.stringify(a) === JSON.stringify(b);
    }
    case 'Fn::Not':
      return !all()[0];
    case 'Fn::And':
      return all().every(Boolean);
    case 'Fn::Or':
      return all().some(Boolean);
    case 'Condition':
      return isConditionTrue(template, arg as string, context, where);
    default:
      return resolveDeep(template, expression, context, where);
  }
}

/** Resolves every intrinsic inside plain objects and lists too; NO_VALUE entries are dropped. */
export function resolveDeep(template: Template, value: unknown, context: ResolveContext, where: string): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    return value.map((item) => resolveDeep(template, item, context, where)).filter((item) => item !== NO_VALUE);
  }
  const keys = Object.keys(value);
  if (keys.length === 1 && (keys[0] === 'Ref' || keys[0]!.startsWith('Fn::'))) {
    const resolved = resolve(template, value, context, where);
    return resolved === NO_VALUE || typeof resolved !== 'object' || resolved === null
      ? resolved
      : resolveDeep(template, resolved, context, where);
  }
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    const resolved = resolveDeep(template, item, context, `${where}.${key}`);
    if (resolved !== NO_VALUE) out[key] = resolved;
  }
  return out;
}

function ref(template: Template, name: string, context: ResolveContext, where: string): unknown {
  if (name === 'AWS::NoValue') return NO_VALUE;
  if (name.startsWith('AWS::')) {
    const found = context.pseudo?.[name];
    if (found === undefined) throw new Error(`${where}: no local value for the pseudo parameter ${name}`);
    return found;
  }
  const parameter = template.Parameters?.[name];
  if (parameter) {
    const given = context.parameters?.[name] ?? parameter.Default;
    if (given === undefined) throw new Error(`${where}: parameter ${name} has no default and no value was given`);
    if (parameter.Type === 'CommaDelimitedList' || parameter.Type?.startsWith('List<')) return String(given).split(',');
    return String(given);
  }
  if (template.Resources[name]) {
    const found = context.refs?.[name];
    if (found === undefined) throw new Error(`${where}: no local value for Ref ${name} (${template.Resources[name].Type})`);
    return found;
  }
  throw new Error(`${where}: Ref to unknown ${name}`);
}

/** The logical id of the one resource of a type named prefix + CDK's 8-digit hash. */
export function logicalIdOf(template: Template, type: string, prefix: string): string {
  const ids = Object.entries(template.Resources)
    .filter(([id, resource]) => resource.Type === type && id.startsWith(prefix) && /^[0-9A-F]{8}$/.test(id.slice(prefix.length)))
    .map(([id]) => id);
  if (ids.length !== 1) throw new Error(`expected one ${type} named ${prefix}*, found ${ids.length}: ${ids.join(', ')}`);
  return ids[0]!;
}
