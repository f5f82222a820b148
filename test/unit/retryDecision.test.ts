import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ARM_SCOPE, AUTH_RETRIES, classifyError, dataPlaneScope, DEFAULT_RETRY_POLICY, retryDecision, type ClassifiedError } from '../../src/core/copy/retry';
import { DiskDeltaError } from '../../src/core/errors';

const policy = { ...DEFAULT_RETRY_POLICY, maxRetries: 3, baseDelayMs: 100, maxDelayMs: 1000 };
const fixed = (): number => 0.5;
const failure = (statusCode: number, code: string, retryAfterMs?: number): ClassifiedError => {
  const e = new DiskDeltaError('failed', code, undefined, statusCode);
  if (retryAfterMs !== undefined) e.retryAfterMs = retryAfterMs;
  return classifyError(e);
};

void test('throttling and transient faults are retried until the policy runs out, Retry-After as the floor', () => {
  const busy = failure(503, 'ServerBusy', 2000);
  const d = retryDecision(busy, 0, policy, dataPlaneScope(0), undefined, fixed);
  assert.equal(d.action, 'retry');
  assert.ok(d.action === 'retry' && d.delayMs >= 2000 && !d.renewSas);
  assert.equal(retryDecision(failure(500, 'InternalError'), 2, policy, ARM_SCOPE, undefined, fixed).action, 'retry');
  assert.equal(retryDecision(busy, 3, policy, dataPlaneScope(1), undefined, fixed).action, 'fail');
});

void test('a refused SAS renews the grants it has, or is retried a few times without one, and ends an ARM call', () => {
  const refused = failure(403, 'AuthenticationFailed');
  const withGrant = retryDecision(refused, 2, policy, dataPlaneScope(1), undefined, fixed);
  assert.ok(withGrant.action === 'retry' && withGrant.renewSas);
  const noGrant = retryDecision(refused, 0, policy, dataPlaneScope(0), undefined, fixed);
  assert.ok(noGrant.action === 'retry' && !noGrant.renewSas);
  assert.equal(retryDecision(refused, AUTH_RETRIES, policy, dataPlaneScope(0), undefined, fixed).action, 'fail');
  assert.equal(retryDecision(refused, 0, policy, ARM_SCOPE, undefined, fixed).action, 'fail');
});

void test('a cancelled operation aborts and a fatal error is not retried', () => {
  const controller = new AbortController();
  controller.abort();
  assert.equal(retryDecision(failure(503, 'ServerBusy'), 0, policy, dataPlaneScope(0), controller.signal, fixed).action, 'abort');
  assert.equal(retryDecision(classifyError(new DOMException('stop', 'AbortError')), 0, policy, ARM_SCOPE, undefined, fixed).action, 'abort');
  assert.equal(retryDecision(failure(404, 'BlobNotFound'), 0, policy, dataPlaneScope(1), undefined, fixed).action, 'fail');
});
