/**
 * The Azure layer ships as a bundle of its own with its own copy of DiskDeltaError; an error it throws must
 * still be a DiskDeltaError to the CLI and extension bundles, so its code and hint reach the user.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { buildSync } from 'esbuild';
import { DiskDeltaError } from '../../src/core/errors';
import { PolicyError } from '../../src/core/protect/policy';

type ErrorsModule = typeof import('../../src/core/errors');

function bundledCopy(dir: string, name: string): ErrorsModule {
  const outfile = path.join(dir, `${name}.cjs`);
  buildSync({ entryPoints: [path.resolve('src/core/errors.ts')], bundle: true, platform: 'node', format: 'cjs', outfile, logLevel: 'silent' });
  return createRequire(import.meta.url)(outfile) as ErrorsModule;
}

void describe('DiskDeltaError across bundles', () => {
  void it('an error made by another bundle is a DiskDeltaError here, with its code and hint; other errors are not', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dd-errors-'));
    try {
      const azureBundle = bundledCopy(dir, 'azure');
      const cliBundle = bundledCopy(dir, 'cli');
      assert.notEqual(azureBundle.DiskDeltaError, cliBundle.DiskDeltaError, 'two copies of the class');
      const thrown = new azureBundle.DiskDeltaError('Resource group dr could not be found.', 'ResourceGroupNotFound', 'Create it.');
      assert.ok(thrown instanceof cliBundle.DiskDeltaError);
      assert.ok(thrown instanceof DiskDeltaError);
      assert.equal((thrown as DiskDeltaError).code, 'ResourceGroupNotFound');
      assert.ok(new DiskDeltaError('x', 'Code') instanceof azureBundle.DiskDeltaError);
      assert.ok(!(new Error('plain') instanceof cliBundle.DiskDeltaError));
      assert.ok(!(Object.assign(new Error('look-alike'), { name: 'DiskDeltaError', code: 'X' }) instanceof DiskDeltaError));
      for (const value of [null, undefined, 'text', 42] as unknown[]) assert.ok(!(value instanceof DiskDeltaError));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void it('subclasses keep their own check', () => {
    const policy = new PolicyError(['p.yaml:1: policies: missing']);
    assert.ok(policy instanceof PolicyError);
    assert.ok(policy instanceof DiskDeltaError);
    assert.ok(!(new DiskDeltaError('x', 'Code') instanceof PolicyError));
  });
});
