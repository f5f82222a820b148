/** Child process for the SIGKILL test: records operations in a copy journal and acknowledges each once it is durable. */
import { CopyJournal } from '../../../src/core/copy';

async function main(): Promise<void> {
  const [file, compactEvery] = process.argv.slice(2);
  const { journal } = await CopyJournal.open(file!, 'family-kill', 'https://t.blob.test/c/kill.vhd', { compactEvery: Number(compactEvery) });
  await journal.beginStep('plan-kill', '/snap/kill', 'base');
  for (let i = 0; ; i += 1) {
    // Two at once, so group commits and out-of-order completions are exercised too.
    await Promise.all([journal.recordDone(2 * i * 512, 512), journal.recordDone((2 * i + 1) * 512, 512, (2 * i + 2) * 512)]);
    process.stdout.write(`${i}\n`);
  }
}

void main();
