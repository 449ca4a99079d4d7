'use strict';
// `trackd rules test`: a rule that is not loaded, replayed over a seeded history of stored
// events. Its output (per day, in total, and each event of one person with why it would or
// would not fire) is asserted, and nothing is written: no firing, no delivery.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { PipelinesClient } = require('customerio-node');
const { startTrackd } = require('./harness');

const DAY = 24 * 3600 * 1000;

describe('trackd rules test', { timeout: 60_000 }, () => {
    let trackd;
    let dir;
    let rulePath;

    before(async () => {
        trackd = await startTrackd();
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackd-rules-test-'));
        rulePath = path.join(dir, 'trial-nudge.json');
        fs.writeFileSync(rulePath, JSON.stringify({
            name: 'trial-nudge',
            trigger: { event: 'purchase' },
            frequency: { at_most_every: '36h' },
            conditions: [
                { field: 'event.price', op: 'gt', value: 1 },
                { field: 'person.plan', op: 'eq', value: 'trial' },
            ],
            action: { type: 'push', title: 'Thanks {{ person.id }}', body: 'You paid {{ event.price }}' },
        }));
        const client = new PipelinesClient(trackd.workspace.write_key, { url: `${trackd.baseUrl}/v1`, strictMode: true });
        await client.identify({ userId: 'p1', traits: { plan: 'trial' } });
        await client.identify({ userId: 'p2', traits: { plan: 'pro' } });
        const at = (daysAgo) => new Date(Date.now() - daysAgo * DAY).toISOString();
        await client.track({ userId: 'p1', event: 'purchase', properties: { price: 5 }, timestamp: at(3) });
        await client.track({ userId: 'p1', event: 'purchase', properties: { price: 20 }, timestamp: at(2) });
        await client.track({ userId: 'p2', event: 'purchase', properties: { price: 30 }, timestamp: at(1) });
        await client.track({ userId: 'p1', event: 'purchase', properties: { price: 0.5 }, timestamp: at(1) });
        await client.track({ userId: 'p1', event: 'viewed', properties: {}, timestamp: at(1) });
        await client.track({ userId: 'p1', event: 'purchase', properties: { price: 9 }, timestamp: at(20) });
    });

    after(async () => {
        await trackd?.stop();
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it('prints per day, in total and rendered what the rule would have done, writing nothing', async () => {
        const out = await trackd.cli(['rules', 'test', '--workspace', 'compat', rulePath, '--since', '7d']);
        const lines = out.trim().split('\n');
        assert.match(lines[0], /^rule trial-nudge \(trigger: event purchase\) on the events of the last 7d in workspace compat$/);
        assert.ok(lines.some((l) => /^ {2}fires for p1 on event \d+ at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: \{"type":"push","title":"Thanks p1","body":"You paid 5"\}$/.test(l)), out);
        const days = lines.filter((l) => /^\d{4}-\d\d-\d\d {2}\d+ events, would fire \d+$/.test(l));
        assert.equal(days.length, 3, out);
        assert.deepEqual(days.map((l) => l.replace(/^\S+ {2}/, '')), ['1 events, would fire 1', '1 events, would fire 0', '2 events, would fire 0']);
        assert.ok(lines.includes('4 events, 2 matched the conditions, would fire 1 times for 1 people (1 held back by frequency)'), out);
        assert.match(out, /nothing was written or sent/);
        const [written] = await trackd.query('SELECT (SELECT count(*) FROM firings) + (SELECT count(*) FROM deliveries) AS n');
        assert.equal(Number(written.n), 0);
    });

    it('with --person, says for each of their events why it would or would not fire', async () => {
        const out = await trackd.cli(['rules', 'test', '--workspace', 'compat', rulePath, '--person', 'p1', '--since', '30d']);
        const events = out.split('\n').filter((l) => /^\d{4}-\d\d-\d\dT/.test(l));
        assert.equal(events.length, 4, out);
        assert.match(events[0], /event \d+: would fire: \{"type":"push","title":"Thanks p1","body":"You paid 9"\}$/);
        assert.match(events[1], /event \d+: would fire: .*"You paid 5"/);
        assert.match(events[2], /event \d+: matches, but held back by frequency "at_most_every"$/);
        assert.match(events[3], /event \d+: conditions\[0\] does not hold: \{"field":"event.price","op":"gt","value":1\} \(event.price is 0.5\)$/);
        const p2 = await trackd.cli(['rules', 'test', '--workspace', 'compat', rulePath, '--person', 'p2']);
        assert.match(p2, /conditions\[1\] does not hold: \{"field":"person.plan","op":"eq","value":"trial"\} \(person.plan is "pro"\)/);
    });

    it('refuses a bad rule file or arguments, naming the problem', async () => {
        const bad = path.join(dir, 'bad.json');
        fs.writeFileSync(bad, JSON.stringify({ name: 'bad', trigger: { event: 'x' }, action: { type: 'nope' } }));
        await assert.rejects(trackd.cli(['rules', 'test', '--workspace', 'compat', bad]), /bad\.json: action\.type/);
        await assert.rejects(trackd.cli(['rules', 'test', '--workspace', 'compat', rulePath, '--since', '1w']), /--since/);
        await assert.rejects(trackd.cli(['rules', 'test', '--workspace', 'nope', rulePath]), /no workspace of that name/);
    });
});
