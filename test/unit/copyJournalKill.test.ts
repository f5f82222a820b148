import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { CopyJournal } from '../../src/core/copy';
import { scratchDirectory } from './support/copyScenario';

const dir = mkdtempSync(path.join(scratchDirectory(), 'dd-kill-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the journal writer until it has acknowledged `acks` records, SIGKILLs it, and returns the last acknowledgement. */
function writeThenKill(file: string, acks: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'support', 'journalWriter.ts'), file, '7'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let last = -1;
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      for (const l of lines) last = Number(l);
      if (last >= acks && child.exitCode === null && !child.killed) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('exit', () => resolve(last));
  });
}

void describe('CopyJournal under SIGKILL', () => {
  for (const acks of [3, 40, 120]) {
    void it(`keeps every acknowledged record when killed after ${acks} acknowledgements`, async () => {
      const file = path.join(dir, `kill-${acks}.jsonl`);
      const last = await writeThenKill(file, acks);
      assert.ok(last >= acks);
      const { journal } = await CopyJournal.open(file, 'family-kill', 'https://t.blob.test/c/kill.vhd');
      try {
        const step = journal.currentStep;
        assert.equal(step?.planId, 'plan-kill');
        // Everything acknowledged is durable: operations 0 .. 2 * last + 1 are done.
        for (let op = 0; op <= 2 * last + 1; op += 1) assert.ok(journal.isDone(op * 512, 512), `operation ${op} survived`);
      } finally {
        await journal.close();
      }
    });
  }
});
