// herald/react is an entry point of its own with React as an optional peer: the package
// exports it with types, and no other part of Herald imports React.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

test('package.json exports herald/react with types; React is an optional peer only', async () => {
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
  assert.deepEqual(pkg.exports['./react'], {
    types: './dist/react/index.d.ts',
    default: './dist/react/index.js',
  });
  assert.equal(typeof pkg.peerDependencies.react, 'string');
  assert.deepEqual(pkg.peerDependenciesMeta.react, { optional: true });
  assert.equal(pkg.dependencies.react, undefined);
  assert.equal(pkg.dependencies['react-dom'], undefined);
});

test('only src/react imports React', async () => {
  const files = (await readdir(join(root, 'src'), { recursive: true })).filter((file) =>
    file.endsWith('.ts'),
  );
  const importers: string[] = [];
  for (const file of files) {
    const text = await readFile(join(root, 'src', file), 'utf8');
    if (/(?:from|import)\s*\(?\s*['"]react(?:-dom)?(?:\/[^'"]*)?['"]/.test(text)) {
      importers.push(relative('.', join('src', file)));
    }
  }
  assert.ok(importers.length > 0, 'the hook imports React');
  assert.deepEqual(
    importers.filter((file) => !file.startsWith(join('src', 'react'))),
    [],
  );
});
