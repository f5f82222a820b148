import https from 'node:https';
import { createDefaultHttpClient, type HttpClient } from '@azure/core-rest-pipeline';

/**
 * An HTTP client for every Azure SDK client that trusts one extra CA (the local emulator's
 * self-signed one) without touching process-wide settings such as NODE_EXTRA_CA_CERTS.
 */
export function httpClientTrusting(caPem: string, maxSockets = 256): HttpClient {
  const inner = createDefaultHttpClient();
  const agent = new https.Agent({ ca: caPem, keepAlive: true, maxSockets });
  return {
    sendRequest(request) {
      if (request.url.startsWith('https:') && !request.agent) request.agent = agent;
      return inner.sendRequest(request);
    },
  };
}
