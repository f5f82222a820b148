// Prepares the e2e tier (run by scripts/test.mjs before it): Chromium and code-server installed,
// the VSIX packaged once for the whole run.
import { ensureCodeServer } from '../../scripts/ensure-code-server.mjs';
import { ensureDebianPackages, toolingPackages } from '../../scripts/ensure-debian-packages.mjs';
import { packageExtension } from '../../scripts/package.mjs';

const started = Date.now();
try {
  ensureDebianPackages(toolingPackages);
  const codeServer = await ensureCodeServer();
  await packageExtension({ quiet: true });
  console.log(`e2e: code-server ${codeServer.version} and the VSIX ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (e) {
  console.error(`e2e: preparing failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
