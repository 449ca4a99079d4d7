'use strict';
// The rule evaluator's memory is bounded by bytes, not by a count of events: events whose
// properties are small on the wire but long as text (1e-300 is six bytes sent and 302 digits
// written out) wait for evaluation, and trackd's resident memory stays under 128 MB while it
// works through them.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startTrackd } = require('./harness');
const { basic, call, sampleRss, waitFor } = require('./load');

const EVENTS = 210;
const RSS_LIMIT_KB = 128 * 1024;

describe('rule evaluation memory', { timeout: 300_000 }, () => {
    let trackd;
    let dir;

    before(async () => {
        trackd = await startTrackd();
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackd-eval-memory-'));
    });

    after(async () => {
        if (trackd) await trackd.stop();
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('stays under 128 MB while megabytes of rule-named events wait', async () => {
        // Stored first, with no rule naming them (so nothing is queued yet).
        const numbers = new Array(4400).fill('1e-300').join(',');
        const item = (n) =>
            `{"type":"track","userId":"big-${n % 7}","event":"big","messageId":"big-${n}",` +
            `"properties":{"n":[${numbers}]}}`;
        let sent = 0;
        for (let n = 0; n < EVENTS; n += 14) {
            const items = [];
            for (let k = n; k < Math.min(n + 14, EVENTS); k++) items.push(item(k));
            const body = `{"batch":[${items.join(',')}]}`;
            sent += body.length;
            const answer = await call(`${trackd.baseUrl}/v1/batch`, { auth: basic(trackd.workspace.write_key), body });
            assert.equal(answer.status, 200, answer.body);
        }
        const [stored] = await trackd.query(
            `SELECT count(*)::int AS n, sum(octet_length(properties::text))::bigint AS text_bytes
             FROM events WHERE name = 'big'`
        );
        assert.equal(stored.n, EVENTS);
        assert.ok(sent > 6_000_000, `${sent} bytes sent`);
        assert.ok(Number(stored.text_bytes) > 250_000_000, `${stored.text_bytes} bytes as text`);

        // A rule naming them, that never matches, and every one of them queued at once.
        const rule = path.join(dir, 'big.json');
        fs.writeFileSync(
            rule,
            JSON.stringify({
                name: 'big-never',
                trigger: { event: 'big' },
                conditions: [{ field: 'event.never', op: 'exists' }],
                action: { type: 'webhook', url: 'http://127.0.0.1:9/unused', body: {} },
            })
        );
        await trackd.cli(['rules', 'load', '--workspace', trackd.workspace.name, rule]);
        const rss = sampleRss(trackd.pid, 20);
        await trackd.exec(`INSERT INTO pending_evaluations (event_id, workspace_id)
                           SELECT id, workspace_id FROM events WHERE name = 'big'`);
        await waitFor(
            async () => (await trackd.query('SELECT count(*)::int AS n FROM pending_evaluations'))[0].n === 0,
            { ms: 240_000, what: 'the evaluation queue to drain' }
        );
        const maxKb = rss.stop();
        assert.ok(maxKb < RSS_LIMIT_KB, `trackd's resident memory reached ${maxKb} kB`);
        assert.deepEqual(await trackd.query(`SELECT id FROM firings`), []);
    });
});
