/**
 * The policy that waits out ARM 429s after the retry policy gave up: bounded by time, not by a count of
 * rounds, and each wait spread at random so callers refused together do not come back together
 * (docs/azure-behaviour.md#arm-throttling; Microsoft.Compute's 429 with Retry-After as described in
 * https://learn.microsoft.com/azure/virtual-machines/troubleshooting/troubleshooting-throttling-errors).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHttpHeaders, createPipelineRequest, type PipelineResponse, type SendRequest } from '@azure/core-rest-pipeline';
import { throttlePatience, throttleWaitMs } from '../../src/azure/compute';

const answer = (status: number, retryAfter?: string): PipelineResponse => ({
  status,
  headers: createHttpHeaders(retryAfter === undefined ? {} : { 'retry-after': retryAfter }),
  request: createPipelineRequest({ url: 'https://management.azure.com/x' }),
});

void describe('ARM throttle patience', () => {
  void it('waits the Retry-After plus up to half of it again, at least a second, at most 7.5 minutes', () => {
    assert.equal(throttleWaitMs('2', 0), 2000);
    assert.equal(throttleWaitMs('2', 1), 3000);
    assert.equal(throttleWaitMs('0', 0), 1000);
    assert.equal(throttleWaitMs(undefined, 0), 10_000);
    assert.equal(throttleWaitMs('3600', 1), 450_000);
    const spread = new Set(Array.from({ length: 50 }, () => throttleWaitMs('4')));
    assert.ok(spread.size > 10, 'callers told the same Retry-After do not all wait the same');
  });

  void it('sends a throttled call again until it passes, however many 429s that takes within the budget', async () => {
    let calls = 0;
    const next: SendRequest = () => Promise.resolve(++calls < 4 ? answer(429, '0') : answer(200));
    const r = await throttlePatience(60_000).sendRequest(createPipelineRequest({ url: 'https://management.azure.com/x' }), next);
    assert.equal(r.status, 200);
    assert.equal(calls, 4);
  });

  void it('gives the 429 back once the next wait would pass the budget, and stops waiting when aborted', async () => {
    let calls = 0;
    const next: SendRequest = () => Promise.resolve((calls++, answer(429, '1')));
    const r = await throttlePatience(500).sendRequest(createPipelineRequest({ url: 'https://management.azure.com/x' }), next);
    assert.equal(r.status, 429);
    assert.equal(calls, 1);

    const abort = new AbortController();
    const request = createPipelineRequest({ url: 'https://management.azure.com/x', abortSignal: abort.signal });
    const pending = throttlePatience(60_000).sendRequest(request, () => Promise.resolve(answer(429, '30')));
    setTimeout(() => abort.abort(), 50);
    await assert.rejects(pending, { name: 'AbortError' });
  });
});
