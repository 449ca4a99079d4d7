'use strict';
// Campaigns that respect people, end to end: rules loaded with `trackd rules load`, events and
// unsubscribes sent with customerio-node, the FCM and webhook targets a local receiver.
//   - a person whose `unsubscribed` attribute is true gets no push (skipped, with the reason),
//     a transactional rule still reaches them, webhooks are unaffected; a delayed push to
//     someone who unsubscribed meanwhile is skipped when it falls due;
//   - POST /unsubscribe/{delivery_id} (customerio-node's unsubscribe) sets the attribute on the
//     delivery's person and records the delivery's `unsubscribed` metric; false resubscribes;
//   - a send window is read in the person's time zone: a delivery that falls due outside it
//     waits, scheduled, for the next opening; daylight saving changes are PostgreSQL's
//     (asserted on trackd_window_opening with fixed instants).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { PipelinesClient, TrackClient } = require('customerio-node');
const { startTrackd, REPO_ROOT } = require('./harness');
const { Receiver } = require('./receiver');

const TRACKD_BIN = process.env.TRACKD_BIN || path.join(REPO_ROOT, 'build', 'trackd');
const KOLKATA_OFFSET_MIN = 330; // Asia/Kolkata is UTC+05:30 all year

// "HH:MM" of the UTC instant `ms` shifted by `offsetMin`.
function clock(ms, offsetMin) {
    const d = new Date(ms + offsetMin * 60_000);
    return `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
}

const push = (name, event, extra = {}) => ({
    name,
    trigger: { event },
    action: { type: 'push', title: `${name} for {{ person.id }}`, body: 'hello' },
    ...extra,
});
const hook = (name, event, extra = {}) => ({
    name,
    trigger: { event },
    action: { type: 'webhook', url: `RECEIVER/hooks/${name}`, body: { user: '{{ person.id }}' } },
    ...extra,
});

describe('campaign guards: unsubscribes and send windows', { timeout: 120_000 }, () => {
    let trackd;
    let receiver;
    let rulesDir;
    let client;
    let track;
    // A window of two hours around the present moment on Kolkata's clock: open for a person in
    // Asia/Kolkata, closed (5.5 hours away) for one on UTC, whatever the test's time of day.
    const now = Date.now();
    const window = { from: clock(now - 60 * 60_000, KOLKATA_OFFSET_MIN), to: clock(now + 60 * 60_000, KOLKATA_OFFSET_MIN) };

    const rules = [
        push('promo-push', 'promo'),
        push('receipt-push', 'order', { transactional: true }),
        hook('promo-hook', 'promo'),
        push('delayed-promo', 'delayed_promo', { delay: '2s' }),
        hook('windowed-hook', 'windowed', { send_window: { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], ...window } }),
        push('nudge-push', 'cart_abandoned', {
            delay: '3s',
            exit_on: [{ event: 'order_completed', conditions: [{ field: 'event.total', op: 'gt', value: 10 }] }],
        }),
        push('welcome-push', 'signed_up', { goal: { event: 'purchase', within: '1h' } }),
        {
            name: 'liquid-hook',
            trigger: { event: 'liquid' },
            action: {
                type: 'webhook',
                url: 'RECEIVER/hooks/liquid-hook?who={{ customer.first_name | downcase }}',
                body: {
                    greeting: '{% if customer.vip %}Dear VIP {% elsif customer.plan == "pro" %}Dear pro {% else %}Hi {% endif %}{{ customer.first_name | upcase }}',
                    items: '{% for i in event.items %}{{ i.sku }}{% if i.qty > 1 %}x{{ i.qty }}{% endif %};{% endfor %}',
                    total: '{{ event.total | plus: 5 }} {{ event.tags | join: "/" }} {{ event.tags | size }}',
                    when: '{{ event.at | date: "%Y-%m-%d" }} {{ event.note | default: "none" | capitalize }}',
                    safe: '{{ event.html | escape }}',
                },
            },
        },
        push('upgrade-push', 'trial_ending', {
            delay: '2s',
            recheck: true,
            conditions: [{ field: 'person.plan', op: 'eq', value: 'trial' }],
        }),
    ];

    before(async () => {
        receiver = new Receiver();
        const base = await receiver.start();
        rulesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackd-guards-'));
        for (const rule of rules) {
            fs.writeFileSync(path.join(rulesDir, `${rule.name}.json`), JSON.stringify(rule).replaceAll('RECEIVER', base));
        }
        trackd = await startTrackd({
            rules: [rulesDir],
            env: { TRACKD_FCM_URL: `${base}/fcm`, TRACKD_FCM_TOKEN: 'test-token', TRACKD_RETRY_BASE: '1' },
        });
        client = new PipelinesClient(trackd.workspace.write_key, { url: `${trackd.baseUrl}/v1`, strictMode: true });
        track = new TrackClient(trackd.workspace.site_id, trackd.workspace.api_key, { url: `${trackd.baseUrl}/api/v1` });
    });

    after(async () => {
        await trackd?.stop();
        await receiver?.stop();
        fs.rmSync(rulesDir, { recursive: true, force: true });
    });

    const deliveriesOf = (rule, person) =>
        trackd.query(
            `SELECT d.public_id, d.status, d.last_error, d.attempts,
                    round(extract(epoch FROM d.next_attempt_at))::bigint AS due
               FROM deliveries d JOIN rules r ON r.id = d.rule_id JOIN people p ON p.id = d.person_id
              WHERE r.name = '${rule}' AND p.customer_id = '${person}' ORDER BY d.id`,
        );
    const settled = (rule, person, statuses) =>
        receiver.waitFor(
            async () => {
                const rows = await deliveriesOf(rule, person);
                return rows.length > 0 && rows.every((r) => statuses.includes(r.status));
            },
            20_000,
            `${rule} for ${person} to be ${statuses}`,
        );
    const attributes = async (person) =>
        (await trackd.query(`SELECT attributes FROM people WHERE customer_id = '${person}'`))[0].attributes;

    async function personWithDevice(userId, traits = {}) {
        await client.identify({ userId, traits });
        await client.track({
            userId,
            event: 'Device Created or Updated',
            properties: {},
            context: { device: { token: `token-${userId}`, type: 'android' } },
        });
    }

    it('skips pushes to an unsubscribed person, keeps transactional ones and webhooks', async () => {
        await personWithDevice('unsub-1', { unsubscribed: true });
        await client.track({ userId: 'unsub-1', event: 'promo', properties: {} });
        await client.track({ userId: 'unsub-1', event: 'order', properties: {} });
        await settled('promo-push', 'unsub-1', ['skipped']);
        await settled('receipt-push', 'unsub-1', ['sent']);
        await settled('promo-hook', 'unsub-1', ['sent']);
        const [skipped] = await deliveriesOf('promo-push', 'unsub-1');
        assert.equal(skipped.last_error, 'the person is unsubscribed');
        assert.equal(skipped.attempts, 0, 'nothing was attempted');
        const pushes = receiver.to('/fcm').filter((r) => r.body.message.token === 'token-unsub-1');
        assert.deepEqual(pushes.map((r) => r.body.message.data.title), ['receipt-push for unsub-1']);
        assert.equal(receiver.to('/hooks/promo-hook').length, 1);

        // Customer.io's spellings of true count too; false and absent do not.
        for (const [value, skips] of [['TRUE', true], [1, true], ['1', true], [false, false], ['no', false]]) {
            const who = `unsub-${String(value).toLowerCase()}`;
            await personWithDevice(who, { unsubscribed: value });
            await client.track({ userId: who, event: 'promo', properties: {} });
            await settled('promo-push', who, skips ? ['skipped'] : ['sent']);
        }
    });

    it('a delayed push to someone who unsubscribed meanwhile is skipped when it falls due', async () => {
        await personWithDevice('unsub-later');
        await client.track({ userId: 'unsub-later', event: 'delayed_promo', properties: {} });
        await receiver.waitFor(async () => (await deliveriesOf('delayed-promo', 'unsub-later')).length === 1, 10_000, 'the firing');
        await client.identify({ userId: 'unsub-later', traits: { unsubscribed: true } });
        await settled('delayed-promo', 'unsub-later', ['skipped']);
    });

    it('POST /unsubscribe/{delivery_id} sets the attribute on the delivery\'s person; false resubscribes', async () => {
        await personWithDevice('reader');
        await client.track({ userId: 'reader', event: 'promo', properties: {} });
        await settled('promo-push', 'reader', ['sent']);
        const [delivery] = await deliveriesOf('promo-push', 'reader');

        await track.unsubscribe(delivery.public_id); // customerio-node: POST /unsubscribe/ID {"unsubscribe":true}
        assert.equal((await attributes('reader')).unsubscribed, true);
        const [metric] = await trackd.query(
            `SELECT m.metric FROM delivery_metrics m JOIN deliveries d ON d.id = m.delivery_ref WHERE d.public_id = '${delivery.public_id}'`,
        );
        assert.equal(metric.metric, 'unsubscribed');
        await client.track({ userId: 'reader', event: 'promo', properties: {} });
        await receiver.waitFor(async () => (await deliveriesOf('promo-push', 'reader')).length === 2, 10_000, 'the second firing');
        await settled('promo-push', 'reader', ['sent', 'skipped']);
        assert.deepEqual((await deliveriesOf('promo-push', 'reader')).map((d) => d.status), ['sent', 'skipped']);

        // Without credentials, as an unsubscribe link's page sends it; false resubscribes.
        const resubscribe = await fetch(`${trackd.baseUrl}/unsubscribe/${delivery.public_id}`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ unsubscribe: false }),
        });
        assert.equal(resubscribe.status, 200);
        assert.equal((await attributes('reader')).unsubscribed, false);

        // An unknown delivery changes nothing and says nothing; a bad body names the field.
        const unknown = await fetch(`${trackd.baseUrl}/unsubscribe/no-such-delivery`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: '{"unsubscribe":true}',
        });
        assert.equal(unknown.status, 200);
        const bad = await fetch(`${trackd.baseUrl}/unsubscribe/${delivery.public_id}`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: '{"unsubscribe":"yes"}',
        });
        assert.equal(bad.status, 400);
        assert.match(await bad.text(), /unsubscribe is required and must be true or false/);
        assert.equal((await attributes('reader')).unsubscribed, false);
    });

    it('a send window is read in the person\'s time zone; outside it the delivery waits for the opening', async () => {
        await client.identify({ userId: 'in-kolkata', traits: { timezone: 'Asia/Kolkata' } });
        await client.identify({ userId: 'on-utc', traits: {} });
        await client.identify({ userId: 'bad-zone', traits: { timezone: 'Mars/Olympus_Mons' } });
        for (const userId of ['in-kolkata', 'on-utc', 'bad-zone']) {
            await client.track({ userId, event: 'windowed', properties: {} });
        }
        await settled('windowed-hook', 'in-kolkata', ['sent']);
        // The others are held back, still scheduled, due at the window's next opening on UTC's clock.
        await receiver.waitFor(
            async () => {
                const rows = [...(await deliveriesOf('windowed-hook', 'on-utc')), ...(await deliveriesOf('windowed-hook', 'bad-zone'))];
                return rows.length === 2 && rows.every((r) => r.due * 1000 > Date.now() + 60_000);
            },
            20_000,
            'the deliveries outside the window to be postponed',
        );
        const [fromH, fromM] = window.from.split(':').map(Number);
        const opening = new Date(now);
        opening.setUTCHours(fromH, fromM, 0, 0);
        if (opening.getTime() <= Date.now()) opening.setUTCDate(opening.getUTCDate() + 1);
        for (const who of ['on-utc', 'bad-zone']) {
            const [row] = await deliveriesOf('windowed-hook', who);
            assert.equal(row.status, 'scheduled');
            assert.equal(row.attempts, 0);
            assert.equal(row.due * 1000, opening.getTime(), `${who}: due ${new Date(row.due * 1000).toISOString()}`);
        }
        assert.equal(receiver.to('/hooks/windowed-hook').length, 1);
    });

    it('daylight saving: openings follow the zone\'s clock across both changes', async () => {
        const opening = async (window, zone, at) =>
            (await trackd.query(
                `SELECT to_char(trackd_window_opening('${JSON.stringify(window)}'::jsonb, '${zone}', 'UTC',
                        '${at}'::timestamptz) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS t`,
            ))[0].t;
        const nine = { from: '09:00', to: '20:00' };
        // New York moves to EDT (UTC-4) on 2026-03-08: 09:00 that morning is 13:00 UTC, the
        // evening before (EST, UTC-5) 14:00 UTC.
        assert.equal(await opening(nine, 'America/New_York', '2026-03-08 06:00Z'), '2026-03-08 13:00');
        assert.equal(await opening(nine, 'America/New_York', '2026-03-07 02:00Z'), '2026-03-07 14:00');
        // And back to EST on 2026-11-01.
        assert.equal(await opening(nine, 'America/New_York', '2026-11-01 05:30Z'), '2026-11-01 14:00');
        // Inside the window: no wait. 3 a.m. local waits for 9 a.m. local.
        assert.equal(await opening(nine, 'Europe/Paris', '2026-07-01 10:00Z'), null);
        assert.equal(await opening(nine, 'Europe/Paris', '2026-07-01 01:00Z'), '2026-07-01 07:00');
        // Days: Friday evening waits for Monday morning (2026-07-03 is a Friday).
        assert.equal(await opening({ days: ['mon', 'tue', 'wed', 'thu', 'fri'], ...nine }, 'UTC', '2026-07-03 21:00Z'), '2026-07-06 09:00');
        // A window across midnight, 22:00 to 06:00: 23:30 and 02:00 are inside, 07:00 waits.
        const night = { from: '22:00', to: '06:00' };
        assert.equal(await opening(night, 'UTC', '2026-07-01 23:30Z'), null);
        assert.equal(await opening(night, 'UTC', '2026-07-02 02:00Z'), null);
        assert.equal(await opening(night, 'UTC', '2026-07-02 07:00Z'), '2026-07-02 22:00');
    });

    it('an exit_on event cancels what is pending; a goal event marks the delivery converted', async () => {
        await personWithDevice('shopper');
        await client.track({ userId: 'shopper', event: 'cart_abandoned', properties: {} });
        await receiver.waitFor(async () => (await deliveriesOf('nudge-push', 'shopper')).length === 1, 10_000, 'the nudge');
        // The exit's conditions must hold: a small order is not what the nudge was for.
        await client.track({ userId: 'shopper', event: 'order_completed', properties: { total: 5 } });
        await client.track({ userId: 'shopper', event: 'order_completed', properties: { total: 50 } });
        await settled('nudge-push', 'shopper', ['cancelled']);
        const [nudge] = await trackd.query(
            `SELECT d.status, d.last_error, d.exited_at IS NOT NULL AS exited
               FROM deliveries d JOIN rules r ON r.id = d.rule_id WHERE r.name = 'nudge-push'`,
        );
        assert.deepEqual(nudge, { status: 'cancelled', last_error: 'exited: the person did order_completed', exited: true });
        await new Promise((resolve) => setTimeout(resolve, 3_500)); // past the delay: nothing goes out
        assert.equal(receiver.to('/fcm').filter((r) => r.body.message.token === 'token-shopper').length, 0);

        await personWithDevice('joiner');
        await client.track({ userId: 'joiner', event: 'signed_up', properties: {} });
        await settled('welcome-push', 'joiner', ['sent']);
        await client.track({ userId: 'joiner', event: 'purchase', properties: {} });
        await receiver.waitFor(
            async () =>
                (await trackd.query(
                    `SELECT 1 FROM deliveries d JOIN rules r ON r.id = d.rule_id
                      WHERE r.name = 'welcome-push' AND d.converted_at IS NOT NULL`,
                )).length === 1,
            10_000,
            'the conversion',
        );
        const outcomes = await trackd.query(
            `SELECT rule, exited, converted, cancelled FROM admin_rule_outcomes
              WHERE rule IN ('nudge-push', 'welcome-push') ORDER BY rule`,
        );
        assert.deepEqual(outcomes.map((o) => [o.rule, Number(o.exited), Number(o.converted), Number(o.cancelled)]), [
            ['nudge-push', 1, 0, 1],
            ['welcome-push', 0, 1, 0],
        ]);
    });

    it('recheck: a delayed push whose conditions no longer hold when it falls due is skipped', async () => {
        await personWithDevice('upgrader', { plan: 'trial' });
        await personWithDevice('still-trial', { plan: 'trial' });
        for (const userId of ['upgrader', 'still-trial']) {
            await client.track({ userId, event: 'trial_ending', properties: {} });
        }
        await receiver.waitFor(
            async () => (await deliveriesOf('upgrade-push', 'upgrader')).length === 1,
            10_000,
            'the firing',
        );
        await client.identify({ userId: 'upgrader', traits: { plan: 'pro' } }); // before it falls due
        await settled('upgrade-push', 'upgrader', ['skipped']);
        await settled('upgrade-push', 'still-trial', ['sent']);
        const [skipped] = await deliveriesOf('upgrade-push', 'upgrader');
        assert.equal(skipped.last_error, "its rule's conditions no longer hold");
        assert.equal(receiver.to('/fcm').filter((r) => r.body.message.token === 'token-upgrader').length, 0);
    });

    it('templates render Customer.io\'s Liquid; a bad one is refused at load, naming the position', async () => {
        await client.identify({ userId: 'liquid-1', traits: { first_name: 'Ada', plan: 'pro' } });
        await client.track({
            userId: 'liquid-1',
            event: 'liquid',
            properties: {
                items: [{ sku: 'S1', qty: 2 }, { sku: 'S2', qty: 1 }],
                total: 10,
                tags: ['a', 'b'],
                at: '2026-03-08T06:00:00Z',
                html: '<b>"hi"</b>',
            },
        });
        await settled('liquid-hook', 'liquid-1', ['sent']);
        const hit = receiver.requests.find((r) => r.path.startsWith('/hooks/liquid-hook'));
        assert.equal(hit.path, '/hooks/liquid-hook?who=ada');
        assert.deepEqual(hit.body, {
            greeting: 'Dear pro ADA',
            items: 'S1x2;S2;',
            total: '15 a/b 2',
            when: '2026-03-08 None',
            safe: '&lt;b&gt;&quot;hi&quot;&lt;/b&gt;',
        });

        const bad = path.join(rulesDir, 'bad-template.json');
        fs.writeFileSync(bad, JSON.stringify(push('bad-template', 'x', {
            action: { type: 'push', title: 'Hi {{ customer.first_name | shout }}', body: 'b' },
        })));
        try {
            await assert.rejects(trackd.cli(['rules', 'load', '--workspace', 'compat', bad]), (error) => {
                assert.match(String(error.message), /bad-template\.json: action\.title: action\.title has a template error at byte 28: unknown filter 'shout'/);
                return true;
            });
            fs.writeFileSync(bad, JSON.stringify(push('bad-template', 'x', {
                action: { type: 'push', title: '{% if customer.vip %}VIP', body: 'b' },
            })));
            await assert.rejects(trackd.cli(['rules', 'load', '--workspace', 'compat', bad]), /action\.title has a template error at byte 0: \{% if %\} is not closed/);
        } finally {
            fs.rmSync(bad, { force: true });
        }
    });

    it('TRACKD_DEFAULT_TIMEZONE must look like a time zone name', async () => {
        for (const zone of ['../../etc/passwd', '+05:30', '']) {
            const result = await new Promise((resolve) => {
                execFile(TRACKD_BIN, ['serve'], { env: { ...trackd.env(), TRACKD_DEFAULT_TIMEZONE: zone }, timeout: 10_000 },
                    (error, stdout, stderr) => resolve({ code: error ? error.code : 0, stderr }));
            });
            assert.equal(result.code, 2, `${zone}: ${result.stderr}`);
            assert.match(result.stderr, /TRACKD_DEFAULT_TIMEZONE/);
        }
    });

    it('rules load refuses a bad send window or transactional flag, naming the field', async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackd-bad-guards-'));
        try {
            const cases = [
                [{ send_window: { from: '9:00', to: '20:00' } }, /send_window\.from/],
                [{ send_window: { from: '09:00', to: '24:00' } }, /send_window\.to/],
                [{ send_window: { from: '09:00', to: '09:00' } }, /send_window\.to/],
                [{ send_window: { days: ['monday'], from: '09:00', to: '20:00' } }, /send_window\.days\[0\]/],
                [{ send_window: { days: [], from: '09:00', to: '20:00' } }, /send_window\.days/],
                [{ send_window: { from: '09:00', to: '20:00', zone: 'UTC' } }, /send_window\.zone/],
                [{ transactional: 'yes' }, /transactional/],
                [{ exit_on: [] }, /exit_on/],
                [{ exit_on: [{ conditions: [] }] }, /exit_on\[0\]\.event/],
                [{ exit_on: [{ event: 'x', when: 1 }] }, /exit_on\[0\]/],
                [{ exit_on: [{ event: 'x', conditions: [{ field: 'event.a', op: 'bigger', value: 1 }] }] }, /exit_on\[0\]\.conditions\[0\]\.op/],
                [{ goal: { event: 'purchase' } }, /goal\.within/],
                [{ goal: { event: 'purchase', within: '0s' } }, /goal\.within/],
                [{ recheck: 'yes' }, /recheck/],
            ];
            for (const [extra, field] of cases) {
                const file = path.join(dir, 'bad.json');
                fs.writeFileSync(file, JSON.stringify(push('bad-guard', 'x', extra)));
                await assert.rejects(trackd.cli(['rules', 'load', '--workspace', 'compat', file]), (error) => {
                    assert.match(String(error.message), field, JSON.stringify(extra));
                    return true;
                });
            }
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
