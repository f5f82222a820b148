/** The reads `runDoctor` needs (src/core/doctor.ts), over ARM and plain HTTPS. */
import type { Agent } from 'node:https';
import type { TokenCredential } from '@azure/core-auth';
import { createDefaultHttpClient, createPipelineRequest } from '@azure/core-rest-pipeline';
import type { DiagnosticsApi, PermissionSet } from '../core/doctor';
import { DiskDeltaError } from '../core/errors';
import type { ArmCompute } from './compute';
import { toDiskDeltaError } from './errors';

/** API versions of the two ARM reads that have no SDK client here. */
const PROVIDERS_API = '2021-04-01';
const PERMISSIONS_API = '2022-04-01';

/** Who a JWT was issued to, from its payload (nothing is verified: it is only shown). */
function tokenSubject(token: string): string {
  const payload = token.split('.')[1];
  if (!payload) return 'a token was issued';
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const who =
      claims['upn'] ?? claims['unique_name'] ?? claims['preferred_username'] ?? (claims['appid'] ? `application ${String(claims['appid'])}` : undefined);
    const tenant = claims['tid'] ? `, tenant ${String(claims['tid'])}` : '';
    return who ? `${String(who)}${tenant}` : `a token was issued${tenant}`;
  } catch {
    return 'a token was issued';
  }
}

export class ArmDiagnostics implements DiagnosticsApi {
  readonly #http = createDefaultHttpClient();
  constructor(
    private readonly compute: ArmCompute,
    private readonly credential: TokenCredential,
    private readonly options: { readonly agent?: Agent; readonly scope?: string } = {},
  ) {}

  async signIn(signal?: AbortSignal): Promise<string> {
    const token = await this.credential.getToken(this.options.scope ?? 'https://management.azure.com/.default', { abortSignal: signal });
    if (!token) throw new DiskDeltaError('The sign-in gave no token for Azure Resource Manager.', 'NoToken');
    return tokenSubject(token.token);
  }

  async providerState(subscriptionId: string, namespace: string, signal?: AbortSignal): Promise<string> {
    const body = (await this.compute.armGet(subscriptionId, `/subscriptions/${subscriptionId}/providers/${namespace}?api-version=${PROVIDERS_API}`, {
      signal,
    })) as { registrationState?: string } | undefined;
    return body?.registrationState ?? 'Unknown';
  }

  async permissions(scopeId: string, signal?: AbortSignal): Promise<PermissionSet[] | undefined> {
    const subscriptionId = scopeId.split('/')[2] ?? '';
    const body = (await this.compute.armGet(subscriptionId, `${scopeId}/providers/Microsoft.Authorization/permissions?api-version=${PERMISSIONS_API}`, {
      signal,
    })) as { value?: PermissionSet[] } | undefined;
    return body?.value;
  }

  listResourceGroup(subscriptionId: string, resourceGroup: string, signal?: AbortSignal): Promise<{ disks: number; snapshots: number }> {
    return this.compute.countResourceGroup(subscriptionId, resourceGroup, { signal });
  }

  async reachable(url: string, signal?: AbortSignal): Promise<void> {
    const request = createPipelineRequest({ url, method: 'GET', abortSignal: signal, timeout: 15_000 });
    if (this.options.agent) request.agent = this.options.agent;
    try {
      // Any HTTP answer (even 400 or 403 to an anonymous request) proves the endpoint is reachable.
      await this.#http.sendRequest(request);
    } catch (error) {
      throw toDiskDeltaError(error, `Reaching ${url}`);
    }
  }
}
