/**
 * The documentation's relative links resolve: every [text](path) in README.md, SECURITY.md, docs/*.md and the
 * clients' READMEs names a file (or directory) that exists, and its #anchor, when it points into a markdown file,
 * names one of that file's headings. No link points outside the repository.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../helpers/openapi.js';
import { slug } from '../helpers/walkthrough.js';

function markdownFiles(): string[] {
  const out = ['README.md', 'SECURITY.md'].filter((f) => existsSync(path.join(ROOT, f)));
  for (const f of readdirSync(path.join(ROOT, 'docs'))) if (f.endsWith('.md')) out.push(`docs/${f}`);
  for (const d of ['clients/cognito', 'clients/auth0']) if (existsSync(path.join(ROOT, d, 'README.md'))) out.push(`${d}/README.md`);
  return out;
}

test('every relative link in the documentation resolves, anchors included, and stays inside the repository', () => {
  const broken: string[] = [];
  let checked = 0;
  for (const file of markdownFiles()) {
    const text = readFileSync(path.join(ROOT, file), 'utf8').replace(/```[\s\S]*?```/g, '');
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^(https?:|mailto:)/.test(target)) continue;
      checked++;
      const [p, anchor] = target.split('#') as [string, string | undefined];
      const resolved = p ? path.resolve(path.dirname(path.join(ROOT, file)), p) : path.join(ROOT, file);
      if (!resolved.startsWith(ROOT + path.sep) && resolved !== ROOT) {
        broken.push(`${file}: ${target} points outside the repository`);
        continue;
      }
      if (!existsSync(resolved)) {
        broken.push(`${file}: ${target} does not exist`);
        continue;
      }
      if (anchor && resolved.endsWith('.md')) {
        const headings = [...readFileSync(resolved, 'utf8').matchAll(/^#+ (.+)$/gm)].map((h) => slug(h[1]!));
        if (!headings.includes(anchor)) broken.push(`${file}: ${target}: no heading "#${anchor}"`);
      }
    }
  }
  assert.ok(checked > 20, `checked ${checked} links`);
  assert.deepEqual(broken, []);
});
