/**
 * The Dockerfile cannot be built here (no container engine, no base images; hadolint is neither in Debian nor
 * installable from npm without GitHub). So: it is linted offline by dockerfile-utils (the Docker language server's
 * validator: syntax, instruction arguments, flags), parsed with dockerfile-ast, and held to the invariants the
 * image must keep: non-root, no dev dependencies, HEALTHCHECK on /healthz, the Node major of engines and of CI,
 * exec-form ENTRYPOINT, only the gateway's own code compiled; and .dockerignore keeps tests and secrets out.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';

const ROOT = process.cwd();
const read = (f: string) => readFileSync(path.join(ROOT, f), 'utf8');
const DOCKERFILE = read('Dockerfile');

interface Instruction {
  keyword: string;
  /** The arguments as written (line continuations joined). */
  args: string[];
  /** For exec (JSON) form: the strings of the array; otherwise undefined. */
  json?: string[];
  /** HEALTHCHECK / ADD / COPY / FROM flags (--name=value). */
  flags: Record<string, string>;
}
interface Stage {
  image: string;
  name?: string;
  instructions: Instruction[];
}

type Any = any;

/** Variable specifiers: the packages' types are not needed to compile the tests. */
async function load(name: string): Promise<Any> {
  try {
    return await import(name);
  } catch (e) {
    throw new Error(`${name} (a devDependency: npm ci installs it) is needed to lint the Dockerfile: ${(e as Error).message}`);
  }
}

async function stages(): Promise<Stage[]> {
  const { DockerfileParser } = await load('dockerfile-ast');
  const dockerfile = DockerfileParser.parse(DOCKERFILE);
  const out: Stage[] = [];
  for (const ins of dockerfile.getInstructions() as Any[]) {
    const keyword = String(ins.getKeyword()).toUpperCase();
    const args = (ins.getArguments() as Any[]).map((a) => String(a.getValue()));
    const json = typeof ins.getJSONStrings === 'function' && ins.getJSONStrings().length > 0 ? (ins.getJSONStrings() as Any[]).map((s) => String(s.getJSONValue())) : undefined;
    const flags: Record<string, string> = {};
    if (typeof ins.getFlags === 'function') for (const f of ins.getFlags() as Any[]) flags[String(f.getName())] = String(f.getValue() ?? '');
    if (keyword === 'FROM') {
      const asAt = args.findIndex((a) => a.toUpperCase() === 'AS');
      out.push({ image: args.find((a) => !a.startsWith('--'))!, ...(asAt !== -1 ? { name: args[asAt + 1] } : {}), instructions: [] });
      continue;
    }
    assert.ok(out.length > 0, `${keyword} before the first FROM`);
    out[out.length - 1]!.instructions.push({ keyword, args, ...(json ? { json } : {}), flags });
  }
  return out;
}

/** The HEALTHCHECK's command: the JSON array's strings, or the shell command as one string. */
function healthcheckCommand(i: Instruction): string {
  if (i.json) return i.json.join(' ');
  const cmdAt = i.args.findIndex((a) => a.toUpperCase() === 'CMD');
  return i.args.slice(cmdAt + 1).join(' ');
}

/**
 * .dockerignore as Docker reads it (moby/patternmatcher): patterns relative to the context root (a leading / is
 * dropped), `*` and `?` within one path segment, `**` across segments, a pattern that matches a directory excludes
 * everything under it, `!` re-includes, and the last matching line wins.
 */
export function dockerignore(text: string): (file: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const exclude = !l.startsWith('!');
      const pattern = path.posix.normalize((exclude ? l : l.slice(1)).trim()).replace(/^\/+/, '');
      let re = '';
      for (let i = 0; i < pattern.length; i++) {
        const ch = pattern[i]!;
        if (ch === '*' && pattern[i + 1] === '*') {
          i++;
          if (pattern[i + 1] === '/') {
            re += '(.*/)?';
            i++;
          } else re += '.*';
        } else if (ch === '*') re += '[^/]*';
        else if (ch === '?') re += '[^/]';
        else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
      return { exclude, regex: new RegExp(`^${re}$`) };
    });
  return (file: string) => {
    const parts = file.split('/');
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const r of rules) if (candidates.some((c) => r.regex.test(c))) excluded = r.exclude;
    return excluded;
  };
}

function walk(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir)).flatMap((e) => {
    const rel = `${dir}/${e}`;
    return statSync(path.join(ROOT, rel)).isDirectory() ? walk(rel) : [rel];
  });
}

const majorOf = (v: string) => Number(/(\d+)/.exec(v)?.[1]);

describe('Dockerfile', () => {
  it('passes dockerfile-utils validation (syntax, instruction arguments, flags) with no problem', async () => {
    const { validate } = await load('dockerfile-utils');
    const problems = (validate(DOCKERFILE) as Any[]).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
    assert.deepEqual(problems, []);
  });

  it('the lint does catch a broken Dockerfile', async () => {
    const { validate } = await load('dockerfile-utils');
    const broken = DOCKERFILE.replace('EXPOSE 8080', 'EXPOSE http').replace('--timeout=3s', '--timeout=3x');
    const messages = (validate(broken) as Any[]).map((d) => String(d.message));
    assert.ok(messages.some((m) => m.includes('http')), messages.join('\n'));
    assert.ok(messages.some((m) => m.includes('3x')), messages.join('\n'));
  });

  it("every stage is based on Node's official image with the major of package.json engines and of the Node running CI", async () => {
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
    const enginesMajor = majorOf(engines);
    assert.equal(enginesMajor, 20);
    assert.equal(majorOf(process.versions.node), enginesMajor, 'this test runs on the Node of CI');
    const all = await stages();
    const names = new Set(all.map((s) => s.name).filter(Boolean));
    for (const s of all) {
      if (names.has(s.image)) continue; // FROM an earlier stage
      const m = /^node:(\d+)(-[a-z0-9.-]+)?(@sha256:[a-f0-9]{64})?$/.exec(s.image);
      assert.ok(m, `${s.image}: an official node image`);
      assert.equal(Number(m[1]), enginesMajor, s.image);
    }
  });

  it('the final stage runs as a non-root user: the uid 1000 the Kubernetes Deployment runs as', async () => {
    const final = (await stages()).at(-1)!;
    const users = final.instructions.filter((i) => i.keyword === 'USER');
    assert.ok(users.length > 0, 'USER in the final stage');
    const [user, group] = users.at(-1)!.args[0]!.split(':');
    assert.match(user!, /^\d+$/, 'numeric, so that runAsNonRoot can verify it');
    assert.notEqual(Number(user), 0);
    if (group !== undefined) assert.notEqual(Number(group), 0);
    const deployment = parseYaml(read('deploy/kubernetes/base/deployment.yaml')) as Any;
    assert.equal(Number(user), deployment.spec.template.spec.securityContext.runAsUser);
    // Nothing after USER switches back or runs as root.
    const after = final.instructions.slice(final.instructions.indexOf(users.at(-1)!) + 1);
    assert.ok(!after.some((i) => i.keyword === 'RUN' || i.keyword === 'USER'));
  });

  it('no dev dependencies in the final image: node_modules comes from a stage that installs with --omit=dev', async () => {
    const all = await stages();
    const final = all.at(-1)!;
    const copies = final.instructions.filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD');
    const nm = copies.filter((c) => c.args.some((a) => /(^|\/)node_modules\/?$/.test(a)));
    assert.equal(nm.length, 1, 'node_modules is copied once');
    const from = nm[0]!.flags.from;
    assert.ok(from, 'from another stage');
    const source = all.find((s) => s.name === from)!;
    const runs = source.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args.join(' '));
    const installs = runs.filter((r) => /\bnpm (ci|install|i)\b/.test(r));
    assert.ok(installs.length > 0, `stage ${from} installs`);
    let last = -1;
    runs.forEach((r, i) => {
      if (/\bnpm (ci|install|i)\b/.test(r)) last = i;
    });
    const omitted = /--omit[= ]dev|--production\b/.test(runs[last]!) || runs.slice(last + 1).some((r) => /\bnpm prune\b.*--omit[= ]dev/.test(r));
    assert.ok(omitted, `stage ${from}: the last install omits dev dependencies (${runs[last]})`);
    assert.ok(!final.instructions.some((i) => i.keyword === 'RUN' && /\bnpm (ci|install|i)\b/.test(i.args.join(' '))), 'no npm install in the final stage');
    assert.equal(final.instructions.find((i) => i.keyword === 'ENV' && i.args.join(' ').startsWith('NODE_ENV'))?.args.join(' '), 'NODE_ENV=production');
  });

  it('only the gateway is compiled, bundled and shipped: no tests, benchmarks, other scripts or client kit in any stage', async () => {
    const all = await stages();
    const fromContext = all.flatMap((s) => s.instructions.filter((i) => (i.keyword === 'COPY' || i.keyword === 'ADD') && !i.flags.from));
    const sources = fromContext.flatMap((c) => c.args.filter((a) => !a.startsWith('--')).slice(0, -1));
    assert.deepEqual(sources.sort(), ['adapters', 'package-lock.json', 'package.json', 'scripts/bundle.mjs', 'src', 'tsconfig.build.json', 'tsconfig.json'].sort());
    const build = JSON.parse(read('tsconfig.build.json')) as { extends: string; include: string[] };
    assert.equal(build.extends, './tsconfig.json');
    assert.deepEqual(build.include, ['src', 'adapters']);
    const tsc = all.flatMap((s) => s.instructions).filter((i) => i.keyword === 'RUN' && /\btsc\b/.test(i.args.join(' ')));
    assert.equal(tsc.length, 1);
    assert.match(tsc[0]!.args.join(' '), /-p tsconfig\.build\.json/);
    // The CLI is bundled after tsc, as npm run build does (scripts/bundle.mjs, the same file).
    assert.match(tsc[0]!.args.join(' '), /-p tsconfig\.build\.json && node scripts\/bundle\.mjs$/);
    assert.match(read('package.json'), /"build": "rm -rf dist && tsc -p \. && node scripts\/bundle\.mjs"/);
    const final = all.at(-1)!;
    for (const c of final.instructions.filter((i) => i.keyword === 'COPY')) {
      for (const a of c.args.filter((x) => !x.startsWith('--'))) assert.doesNotMatch(a, /(^|\/)(test|bench|scripts|clients)(\/|$)/, a);
    }
  });

  it('HEALTHCHECK in the final stage requests /healthz on the exposed port 8080 (server.port)', async () => {
    const final = (await stages()).at(-1)!;
    const hc = final.instructions.filter((i) => i.keyword === 'HEALTHCHECK');
    assert.equal(hc.length, 1);
    const cmd = healthcheckCommand(hc[0]!);
    const url = /https?:\/\/[^'"\s)]+/.exec(cmd)?.[0];
    assert.ok(url, cmd);
    assert.equal(new URL(url).pathname, '/healthz');
    const expose = final.instructions.find((i) => i.keyword === 'EXPOSE')!.args[0];
    assert.equal(new URL(url).port, expose);
    const example = parseYaml(read('config.example.yaml')) as { server: { port: number } };
    assert.equal(String(example.server.port), expose);
    for (const f of ['interval', 'timeout', 'retries']) assert.ok(hc[0]!.flags[f], f);
  });

  it('ENTRYPOINT in exec form runs the compiled main.js; CMD serves the config path Kubernetes mounts', async () => {
    const final = (await stages()).at(-1)!;
    const entry = final.instructions.filter((i) => i.keyword === 'ENTRYPOINT');
    assert.equal(entry.length, 1);
    assert.deepEqual(entry[0]!.json, ['node', 'dist/src/main.js']);
    const shipped = final.instructions.filter((i) => i.keyword === 'COPY').map((c) => c.args.at(-1));
    assert.ok(shipped.includes('./dist/src'), 'dist/src is shipped');
    const cmd = final.instructions.find((i) => i.keyword === 'CMD');
    assert.deepEqual(cmd?.json, ['serve', '--config', '/etc/legacy-gateway/config.yaml']);
    const deployment = parseYaml(read('deploy/kubernetes/base/deployment.yaml')) as Any;
    assert.deepEqual(deployment.spec.template.spec.containers[0].args, cmd?.json);
    assert.ok(statSync(path.join(ROOT, 'src', 'main.ts')).isFile());
  });
});

describe('.dockerignore', () => {
  const ignored = dockerignore(read('.dockerignore'));

  it('the matcher follows Docker semantics on its own examples', () => {
    const m = dockerignore('*.md\n!README.md\n**/*.key\ntemp?\n/dist\n');
    assert.equal(m('notes.md'), true);
    assert.equal(m('docs/notes.md'), false, '*.md is anchored at the root');
    assert.equal(m('README.md'), false, 're-included');
    assert.equal(m('a/b/c.key'), true);
    assert.equal(m('temp1/x'), true, 'a matched directory excludes its content');
    assert.equal(m('dist/src/main.js'), true);
    assert.equal(m('src/dist.ts'), false);
  });

  it('keeps out installed and built output, version control, tests, benchmarks and scripts', () => {
    for (const f of [
      'node_modules/express/package.json',
      'adapters/node_modules/x/index.js',
      'dist/src/main.js',
      'dist-lead/src/main.js',
      '.git/HEAD',
      '.ci/run',
      'test/src/config.test.ts',
      'test/fixtures/presets.json',
      'bench/verify.ts',
      'scripts/auth0-deploy-layout.ts',
      'clients/auth0/login.js',
      'deploy/kubernetes/base/config.yaml',
      'npm-debug.log',
    ]) {
      assert.equal(ignored(f), true, f);
    }
  });

  it('keeps out secrets: keys, certificates, environment files, real configurations', () => {
    for (const f of [
      'server.pem',
      'certs/tls.key',
      'src/certs/client.crt',
      'keystore.p12',
      '.env',
      '.env.production',
      'deploy/.env.local',
      '.npmrc',
      'config.yaml',
      'config.prod.yaml',
      'config.local.yml',
      'etc/config.yaml',
      'secrets.json',
      'k8s/db-secret.yaml',
      'id_rsa',
    ]) {
      assert.equal(ignored(f), true, f);
    }
  });

  it('lets through everything the Dockerfile copies: package files, tsconfigs, the bundler, every file of src/ and adapters/', async () => {
    const keep = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'scripts/bundle.mjs', ...walk('src'), ...walk('adapters')];
    assert.ok(keep.length > 30);
    assert.deepEqual(
      keep.filter((f) => ignored(f)),
      [],
    );
    assert.equal(ignored('config.example.yaml'), false, 'holds no secret');
  });
});
