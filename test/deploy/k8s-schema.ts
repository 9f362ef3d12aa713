/**
 * Offline validation of Kubernetes objects against the API's schemas, two ways:
 *
 * 1. kubernetes-models (npm): each class carries a validator compiled from the Kubernetes OpenAPI schema (types,
 *    required fields, enums, formats). Like kubeconform without -strict, it does not reject unknown fields.
 * 2. For unknown fields (a typo such as `readinessProbes` that the API server would refuse under strict field
 *    validation), the same package's TypeScript interfaces: every object is written as an object literal typed with
 *    its kind's interface and compiled in memory, so TypeScript's excess-property check names any field the schema
 *    does not have, at any depth.
 */
import path from 'node:path';
import ts from 'typescript';
import type { K8sObject } from './kustomize.js';

/** The module of a kind in kubernetes-models: kubernetes-models/<group>/<version>/<Kind> (core: v1/<Kind>). */
function modulePath(o: K8sObject): string {
  if (!/^([a-z0-9.-]+\/)?v\d+((alpha|beta)\d+)?$/.test(o.apiVersion) || !/^[A-Z][A-Za-z0-9]*$/.test(o.kind)) {
    throw new Error(`unexpected apiVersion/kind ${o.apiVersion} ${o.kind}`);
  }
  return `kubernetes-models/${o.apiVersion}/${o.kind}`;
}

const PACKAGE_HINT = 'kubernetes-models (a devDependency: npm ci installs it) is needed to validate the manifests';

/** Validate one object with its kubernetes-models class; returns the problems (empty when valid). */
export async function schemaProblems(o: K8sObject): Promise<string[]> {
  const spec = modulePath(o);
  let mod: Record<string, unknown>;
  try {
    // A variable specifier: the package's types are not needed to compile the tests.
    mod = (await import(spec)) as Record<string, unknown>;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' || (e as NodeJS.ErrnoException).code === 'ERR_PACKAGE_PATH_NOT_EXPORTED') {
      throw new Error(`${o.kind} (${o.apiVersion}) is not a kind kubernetes-models knows, or the package is missing: ${PACKAGE_HINT}`);
    }
    throw e;
  }
  const Model = mod[o.kind] as (new (data: unknown) => { validate(): void }) | undefined;
  if (typeof Model !== 'function') return [`${spec} has no class ${o.kind}`];
  try {
    new Model(o).validate();
    return [];
  } catch (e) {
    const errors = (e as { errors?: { instancePath?: string; message?: string }[] }).errors;
    if (Array.isArray(errors) && errors.length > 0) return errors.map((x) => `${x.instancePath || '/'}: ${x.message ?? 'invalid'}`);
    return [(e as Error).message];
  }
}

/**
 * Compile every object as a literal of its kind's TypeScript interface (kubernetes-models' I<Kind>). Returns the
 * diagnostics as "<kind>/<name>: message" (empty when every field is known and of the right type).
 * root: a directory whose node_modules holds kubernetes-models (the repository).
 */
export function unknownFieldProblems(objects: K8sObject[], root: string): string[] {
  const file = path.join(root, '__k8s_strict_check__.ts');
  const lines: string[] = [];
  objects.forEach((o, i) => {
    lines.push(`import type { I${o.kind} as T${i} } from ${JSON.stringify(modulePath(o))};`);
  });
  const starts: { line: number; label: string }[] = [];
  objects.forEach((o, i) => {
    starts.push({ line: lines.length, label: `${o.kind}/${o.metadata.name}` });
    lines.push(`export const o${i}: T${i} = ${JSON.stringify(o, null, 1)};`.replace(/\n/g, ' '));
  });
  const source = lines.join('\n') + '\n';
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    types: [],
    skipLibCheck: true,
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.readFile = (f) => (path.resolve(f) === file ? source : readFile(f));
  host.fileExists = ((orig) => (f: string) => path.resolve(f) === file || orig(f))(host.fileExists.bind(host));
  host.getSourceFile = (f, lang, onError, create) =>
    path.resolve(f) === file ? ts.createSourceFile(f, source, lang, true) : getSourceFile(f, lang, onError, create);
  const program = ts.createProgram([file], options, host);
  const diagnostics = [...program.getSyntacticDiagnostics(), ...program.getSemanticDiagnostics()];
  return diagnostics.map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, ' ');
    if (!d.file || d.start === undefined || path.resolve(d.file.fileName) !== file) return text;
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    const owner = [...starts].reverse().find((s) => s.line <= line);
    return `${owner?.label ?? `line ${line + 1}`}: ${text}`;
  });
}
