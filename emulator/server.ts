import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatorContext } from './context';
import { handleArmRequest } from './arm';
import { handleBlobRequest } from './blobService';
import { handleControlRequest } from './control';

const ARM_PREFIXES = ['/subscriptions', '/providers', '/tenants', '/emulator'];

/** One HTTPS endpoint for both ARM and the page-blob data plane (path-style, like Azurite). */
export function createEmulatorServer(ctx: EmulatorContext, tls: { cert: string; key: string }): https.Server {
  const server = https.createServer({ cert: tls.cert, key: tls.key }, (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'https://emulator.invalid');
    const lower = url.pathname.toLowerCase();
    const isArm = ARM_PREFIXES.some((p) => lower === p || lower.startsWith(`${p}/`));
    // The emulator's own endpoints (`/emulator/...`) are routed apart from Azure's ARM routes.
    const handler = lower.startsWith('/emulator/') ? handleControlRequest : isArm ? handleArmRequest : handleBlobRequest;
    // The emulator's clock (which tests can move forward), as Azure's Date header gives its own.
    res.setHeader('Date', new Date(ctx.now()).toUTCString());
    handler(ctx, req, res, url).catch((err: unknown) => {
      // A client that went away mid-request (timeouts, cancellation) is not an emulator error.
      if (req.destroyed || res.destroyed) {
        res.destroy();
        return;
      }
      process.stderr.write(`disk-delta-emulator: unexpected error on ${req.method} ${url.pathname}: ${(err as Error).stack ?? String(err)}\n`);
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'InternalError', message: 'The emulator hit an unexpected error.' } }));
      } else res.destroy();
    });
  });
  server.requestTimeout = 0;
  server.keepAliveTimeout = 30_000;
  return server;
}
