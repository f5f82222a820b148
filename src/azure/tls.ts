import https from 'node:https';
import { createDefaultHttpClient, type HttpClient } from '@azure/core-rest-pipeline';

/** An HTTPS agent that trusts one extra CA (the local emulator's self-signed one) besides the system's. */
export function httpsAgentTrusting(caPem: string, maxSockets = 256): https.Agent {
  return new https.Agent({ ca: caPem, keepAlive: true, maxSockets });
}

/**
 * An HTTP client for the ARM SDK clients that sends every HTTPS request through `agent`, without
 * touching process-wide settings such as NODE_EXTRA_CA_CERTS.
 */
export function httpClientWithAgent(agent: https.Agent): HttpClient {
  const inner = createDefaultHttpClient();
  return {
    sendRequest(request) {
      if (request.url.startsWith('https:') && !request.agent) request.agent = agent;
      return inner.sendRequest(request);
    },
  };
}

export function httpClientTrusting(caPem: string, maxSockets = 256): HttpClient {
  return httpClientWithAgent(httpsAgentTrusting(caPem, maxSockets));
}
