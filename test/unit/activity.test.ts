import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ACTIVITY_CAP, finishActivity, parseActivity, serializeActivity, upsertActivity, type ActivityEntry } from '../../src/core/activity';

function entry(i: number, extra: Partial<ActivityEntry> = {}): ActivityEntry {
  return {
    id: `e${i}`,
    kind: 'create',
    title: `Create snapshot s${i}`,
    outcome: 'succeeded',
    startedAt: new Date(Date.UTC(2026, 10, 1, 0, i)).toISOString(),
    ...extra,
  };
}

void describe('activity log', () => {
  void it('keeps the newest first and at most the cap', () => {
    let list: ActivityEntry[] = [];
    for (let i = 0; i < ACTIVITY_CAP + 25; i++) list = upsertActivity(list, entry(i));
    assert.equal(list.length, ACTIVITY_CAP);
    assert.equal(list[0]!.id, `e${ACTIVITY_CAP + 24}`);
    assert.equal(list[list.length - 1]!.id, 'e25');
  });

  void it('replaces an entry with the same id (start, then end)', () => {
    const started = entry(1, { outcome: 'running' });
    let list = upsertActivity([], started);
    list = upsertActivity(list, finishActivity(started, 'failed', new Date(Date.parse(started.startedAt) + 4500), 'Throttled [TooManyRequests]'));
    assert.equal(list.length, 1);
    assert.equal(list[0]!.outcome, 'failed');
    assert.equal(list[0]!.durationMs, 4500);
    assert.equal(list[0]!.error, 'Throttled [TooManyRequests]');
  });

  void it('never keeps a SAS in a title, detail or error', () => {
    const sas = 'https://md-x.blob.core.windows.net/abc/abcd?sv=2018-03-28&sr=b&si=1&sig=SECRETSIGNATURE%3D';
    const list = upsertActivity([], entry(1, { outcome: 'failed', error: `Put Page From URL ${sas} failed`, detail: sas }));
    const text = serializeActivity(list);
    assert.doesNotMatch(text, /SECRETSIGNATURE/);
    assert.doesNotMatch(JSON.stringify(list), /SECRETSIGNATURE/);
  });

  void it('reads back what it wrote; a running entry left by a closed window reads as cancelled', () => {
    const now = new Date(Date.UTC(2026, 10, 2));
    const list = upsertActivity(
      upsertActivity([], entry(1, { resourceId: '/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/snapshots/a' })),
      entry(2, { outcome: 'running', kind: 'copy' }),
    );
    const back = parseActivity(serializeActivity(list), now);
    assert.equal(back.length, 2);
    assert.equal(back[0]!.id, 'e2');
    assert.equal(back[0]!.outcome, 'cancelled');
    assert.equal(back[0]!.endedAt, now.toISOString());
    assert.equal(back[1]!.resourceId, '/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/snapshots/a');
  });

  void it('drops what it cannot read instead of failing', () => {
    assert.deepEqual(parseActivity('not json'), []);
    assert.deepEqual(parseActivity(JSON.stringify({ version: 99, entries: [entry(1)] })), []);
    const mixed = JSON.stringify({
      version: 1,
      entries: [entry(1), { id: 'x', kind: 'explode', title: 't', outcome: 'succeeded', startedAt: '2026-01-01T00:00:00Z' }, null, 7],
    });
    assert.deepEqual(
      parseActivity(mixed).map((e) => e.id),
      ['e1'],
    );
  });
});
