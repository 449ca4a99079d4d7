'use strict';
// rejected_requests stays bounded however much garbage comes in: a workspace's refused calls are
// kept one by one up to TRACKD_REJECTIONS_PER_MINUTE a minute and only counted beyond (one
// summary row a minute), calls without a valid key are never kept one by one, and rows older
// than TRACKD_REJECTION_RETENTION_DAYS are purged.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startTrackd } = require('./harness');
const { basic, call } = require('./load');

const PER_MINUTE = 20;

describe('refused calls are bounded', { timeout: 180_000 }, () => {
    let trackd;

    before(async () => {
        trackd = await startTrackd({ env: { TRACKD_REJECTIONS_PER_MINUTE: String(PER_MINUTE) } });
    });

    after(async () => {
        if (trackd) await trackd.stop();
    });

    const rows = async (where) =>
        (await trackd.query(`SELECT count(*)::int AS n FROM rejected_requests WHERE ${where}`))[0].n;
    // What the summary rows counted, from their messages ("N more refused calls ...").
    const summarised = async (where) =>
        (
            await trackd.query(
                `SELECT coalesce(sum(split_part(message, ' ', 1)::int), 0)::int AS n
                 FROM rejected_requests WHERE reason = 'rate_limited' AND ${where}`
            )
        )[0].n;

    it('a flood keeps a bounded number of rows, and counts the rest', async () => {
        const ws = trackd.workspace;
        const workspaceId = `(SELECT id FROM workspaces WHERE site_id = '${ws.site_id}')`;
        // 40 batches of 10 refused items (track without an event name): 400 refusals.
        const item = { type: 'track', userId: 'u1', properties: { pad: 'x'.repeat(200) } };
        const batch = { batch: Array.from({ length: 10 }, () => item) };
        for (let i = 0; i < 40; i++) {
            const answer = await call(`${trackd.baseUrl}/v1/batch`, { auth: basic(ws.write_key), body: batch });
            assert.equal(answer.status, 400, answer.body);
        }
        // Without credentials: 200 invalid bodies to the metrics route, which takes anonymous calls.
        for (let i = 0; i < 200; i++) {
            const answer = await call(`${trackd.baseUrl}/api/v1/metrics`, { body: { metric: 'opened', pad: 'y'.repeat(4000) } });
            assert.equal(answer.status, 400, answer.body);
        }
        // Kept one by one: at most the limit for each minute the flood touched (two at most).
        const kept = await rows(`workspace_id = ${workspaceId} AND reason <> 'rate_limited'`);
        assert.ok(kept >= PER_MINUTE && kept <= 2 * PER_MINUTE, `${kept} rows kept`);
        assert.equal(await rows('workspace_id IS NULL'), 0, 'nothing kept for calls without a key');

        // The counts are written once a minute, and on the way out.
        const stopped = await trackd.signal('SIGTERM', 20_000);
        assert.equal(stopped.code, 0);
        assert.equal(kept + (await summarised(`workspace_id = ${workspaceId}`)), 400);
        assert.equal(await summarised('workspace_id IS NULL'), 200);
        assert.ok((await rows('workspace_id IS NULL')) <= 2, 'one summary row a minute');
        await trackd.serve();
    });

    it('rows older than the retention are purged', async () => {
        await trackd.exec(`INSERT INTO rejected_requests (workspace_id, endpoint, reason, message, received_at)
                           SELECT id, '/v1/track', 'invalid_field', 'old', now() - interval '3 days'
                           FROM workspaces`);
        await trackd.exec(`INSERT INTO rejected_requests (workspace_id, endpoint, reason, message, received_at)
                           SELECT id, '/v1/track', 'invalid_field', 'recent', now() - interval '1 hour'
                           FROM workspaces`);
        await trackd.signal('SIGTERM', 20_000);
        // The retention job purges when it starts.
        await trackd.serve({ env: { TRACKD_REJECTION_RETENTION_DAYS: '2' } });
        const deadline = Date.now() + 20_000;
        while (Date.now() < deadline && (await rows(`message = 'old'`)) > 0) {
            await new Promise((r) => setTimeout(r, 100));
        }
        assert.equal(await rows(`message = 'old'`), 0);
        assert.equal(await rows(`message = 'recent'`), 1);
    });
});
