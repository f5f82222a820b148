// Entry point VS Code's extension host loads for `npm run test:desktop` (extensionTestsPath):
// runs the registered desktop tests one after another and fails the run if any failed.
import { desktopTests } from './activation';

export async function run(): Promise<void> {
  const failures: string[] = [];
  for (const { name, fn } of desktopTests) {
    try {
      await fn();
      console.log(`  ok   ${name}`);
    } catch (e) {
      console.log(`  FAIL ${name}\n${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      failures.push(name);
    }
  }
  console.log(`${desktopTests.length - failures.length} passed, ${failures.length} failed`);
  if (failures.length > 0) throw new Error(`${failures.length} desktop test(s) failed: ${failures.join('; ')}`);
}
