/**
 * The README as a script: the operator commands its "Running it for real" section prints (and the sections that
 * section links to), taken from README.md when the test runs, so a walkthrough test breaks when the README changes.
 *
 * What is read: every line of a fenced block and every inline code span in those sections that starts with
 * `npx legacy-gateway`, `legacy-gateway` or `node dist/src/main.js`; continuation backslashes are joined and shell
 * comments dropped; a fenced block's command is taken before an inline one (the command table's
 * `legacy-gateway check --config FILE` only when no block prints check). What is substituted, and only this: the program prefix becomes `node <built dist>/src/main.js`;
 * the value after `--config` becomes the test's config file (a command printed without `--config` gets
 * `--config FILE` appended, the README's other way being LEGACY_GATEWAY_CONFIG); the value after `--port` becomes the test's port
 * (0: any free one). Everything else is run as printed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { sinkLog } from './logsink.js';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { env } from './databases.js';

const PREFIX = /^(?:npx\s+legacy-gateway|legacy-gateway|node\s+dist\/src\/main\.js)\s+/;

/** GitHub's heading anchor: lower case, punctuation other than - and _ dropped, spaces to -. */
export function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/`/g, '').replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
}

/**
 * A section by heading (any level), with its subsections: from the heading to the next heading of the same or a
 * higher level. undefined when no heading matches.
 */
export function section(markdown: string, predicate: (heading: string) => boolean): { heading: string; body: string } | undefined {
  const lines = markdown.split('\n');
  let fenced = false;
  let start = -1;
  let level = 0;
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (l.startsWith('```')) fenced = !fenced;
    const h = fenced ? null : /^(#{1,6}) (.*)$/.exec(l);
    if (!h) continue;
    if (start >= 0 && h[1]!.length <= level) return { heading, body: lines.slice(start, i).join('\n') };
    if (start < 0 && predicate(h[2]!)) {
      start = i;
      level = h[1]!.length;
      heading = h[2]!;
    }
  }
  return start >= 0 ? { heading, body: lines.slice(start).join('\n') } : undefined;
}

/**
 * README.md's "## Running it for real", then every section it links to: `[…](#anchor)` in the README,
 * `[…](docs/x.md#anchor)` in that file (`[…](docs/x.md)`: the whole file), in link order. readFile reads a path
 * relative to the README's directory.
 */
export function runningItForReal(readme: string, readFile: (relative: string) => string): string {
  const main = section(readme, (h) => h.trim() === 'Running it for real');
  if (!main) throw new Error('README.md has no "## Running it for real" section');
  const parts = [main.body];
  const seen = new Set<string>();
  for (const m of main.body.matchAll(/\]\(([^)\s#]*\.md)?(?:#([^)\s]+))?\)/g)) {
    const [, file, anchor] = m;
    if ((!file && !anchor) || /^[a-z]+:/i.test(file ?? '') || seen.has(m[0])) continue;
    seen.add(m[0]);
    const text = file ? readFile(file) : readme;
    const part = anchor ? section(text, (h) => slug(h) === anchor)?.body : text;
    if (part === undefined) throw new Error(`README "Running it for real" links to a missing section: ${file ?? ''}#${anchor}`);
    if (part !== main.body) parts.push(part);
  }
  return parts.join('\n');
}

/** The operator commands printed in a piece of markdown (see the header comment): fenced blocks' first, in order. */
export function commands(markdown: string): string[] {
  const out: string[] = [];
  const inline: string[] = [];
  let fenced = false;
  let pending = '';
  for (const raw of markdown.split('\n')) {
    if (raw.trimStart().startsWith('```')) {
      fenced = !fenced;
      pending = '';
      continue;
    }
    if (fenced) {
      const line = pending + raw.trim();
      if (line.endsWith('\\')) {
        pending = `${line.slice(0, -1)} `;
        continue;
      }
      pending = '';
      const cmd = line.replace(/\s+#.*$/, '').trim();
      if (PREFIX.test(cmd)) out.push(cmd);
    } else {
      for (const m of raw.matchAll(/`([^`]+)`/g)) if (PREFIX.test(m[1]!.trim())) inline.push(m[1]!.trim());
    }
  }
  return [...out, ...inline];
}

/** The first printed command for a subcommand (e.g. "check"), or undefined. */
export function commandFor(list: string[], subcommand: string): string | undefined {
  return list.find((c) => c.replace(PREFIX, '').split(/\s+/)[0] === subcommand);
}

/** argv for `node` with the documented substitutions. Refuses what a test can't run as printed (pipes, $(…)). */
export function argvFor(cmd: string, main: string, values: { config?: string; port?: string }): string[] {
  if (/[|;&<>$`]/.test(cmd)) throw new Error(`README command is not a single plain command: ${cmd}`);
  const words = cmd.replace(PREFIX, '').split(/\s+/).map((w) => w.replace(/^(['"])(.*)\1$/, '$2'));
  const argv = words.map((w, i) => (words[i - 1] === '--config' && values.config ? values.config : words[i - 1] === '--port' ? values.port ?? '0' : w));
  return [main, ...argv, ...(values.config && !words.includes('--config') ? ['--config', values.config] : [])];
}

/** A child process with its output collected; kill() is idempotent and waits for the exit. */
export interface Child {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with stdout once it matches (rejects on exit or after timeoutMs). */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  kill(): Promise<void>;
}

export function startChild(argv: string[], env: NodeJS.ProcessEnv = process.env): Child {
  const proc = spawn(process.execPath, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const exited = once(proc, 'exit');
  // A serving gateway's output is its log (collected for the end-of-run scan); other commands print on purpose
  // what they are asked for (dev-issuer and demo print a token).
  const sink = argv.includes('serve') ? sinkLog : () => {};
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    sink(d.toString());
  });
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    sink(d.toString());
  });
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    waitFor(re, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`timed out waiting for ${re} from ${argv.slice(1, 2).join(' ')}; stderr: ${err.slice(-500)}`)), timeoutMs);
        const check = () => {
          const m = out.match(re);
          if (m) done(undefined, m);
        };
        const onExit = () => done(new Error(`${argv.slice(1, 2).join(' ')} exited (${proc.exitCode}) before ${re}; stderr: ${err.slice(-500)}`));
        function done(e?: Error, m?: RegExpMatchArray) {
          clearTimeout(timer);
          proc.stdout!.off('data', check);
          proc.off('exit', onExit);
          if (e) reject(e);
          else resolve(m!);
        }
        proc.stdout!.on('data', check);
        proc.once('exit', onExit);
        check();
      });
    },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

/** Runs a command to completion: exit code and output. */
export async function runChild(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const c = startChild(argv, env);
  const [code] = (await once(c.proc, 'close')) as [number | null];
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

/** The indented lines under a heading line of `check`'s output, up to the first blank line. */
export function block(output: string, headingStart: string): string[] {
  const lines = output.split('\n');
  const i = lines.findIndex((l) => l.startsWith(headingStart));
  if (i < 0) throw new Error(`check printed no "${headingStart}" block`);
  const out: string[] = [];
  for (const l of lines.slice(i + 1)) {
    if (!l.trim()) break;
    out.push(l.replace(/^ {2}/, ''));
  }
  return out;
}

/** SQL text split into statements at a ';' that ends a line; comment-only lines dropped. */
export function statements(sqlLines: string[]): string[] {
  const text = sqlLines.filter((l) => !/^\s*--/.test(l)).join('\n');
  return text.split(/;\s*(?:\n|$)/).map((s) => s.trim()).filter(Boolean);
}

/** Statements run as the server's admin on a connection with no current database (DBA work: users, GRANTs). */
export async function serverExec(kind: 'mysql' | 'postgres', sql: string[]): Promise<void> {
  if (kind === 'mysql') {
    const u = new URL(env.mysqlUrl);
    u.pathname = '/';
    const c = await mysql.createConnection({ uri: u.toString() });
    try {
      for (const s of sql) await c.query(s);
    } finally {
      await c.end();
    }
    return;
  }
  const c = new pg.Client({ connectionString: env.postgresUrl });
  await c.connect();
  try {
    for (const s of sql) await c.query(s);
  } finally {
    await c.end();
  }
}
