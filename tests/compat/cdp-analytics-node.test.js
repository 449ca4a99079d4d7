'use strict';
// @customerio/cdp-analytics-node, unmodified, pointed at trackd: everything it sends goes to
// POST /v1/batch with Basic auth "writeKey:". Each test asserts the rows trackd committed.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Analytics } = require('@customerio/cdp-analytics-node');
const { startTrackd } = require('./harness');

const SUITE_TIMEOUT_MS = 90_000;
const FLUSH_TIMEOUT_MS = 15_000;

// Makes the calls on a fresh SDK instance and waits until each one is delivered or has failed.
// Every call goes through its callback, which the SDK invokes once the batch holding it got an
// answer (or gave up), so a timeout here means the SDK never finished, not a slow assertion.
async function send(settings, calls) {
    const analytics = new Analytics({ flushInterval: 50, ...settings });
    const errors = [];
    const requests = [];
    analytics.on('error', (error) => errors.push(error));
    analytics.on('http_request', (request) => requests.push(request));

    const outcomes = calls.map(
        ([method, params]) =>
            new Promise((resolve) => analytics[method](params, (error) => resolve({ method, error })))
    );
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(
            () => reject(new Error(`the SDK did not finish delivering within ${FLUSH_TIMEOUT_MS} ms`)),
            FLUSH_TIMEOUT_MS
        );
    });
    try {
        const results = await Promise.race([Promise.all(outcomes), timeout]);
        await analytics.closeAndFlush({ timeout: FLUSH_TIMEOUT_MS });
        return { results, errors, requests, sent: requests.flatMap((r) => JSON.parse(r.body).batch) };
    } finally {
        clearTimeout(timer);
    }
}

function assertDelivered({ results, errors }) {
    const failed = results.filter((r) => r.error);
    assert.deepEqual(
        failed.map((r) => `${r.method}: ${r.error}`),
        [],
        'every call is answered 2xx by trackd'
    );
    assert.deepEqual(
        errors.map((e) => `${e.code}: ${e.reason}`),
        [],
        'the SDK reports no delivery failure'
    );
}

describe('cdp-analytics-node against trackd', { timeout: SUITE_TIMEOUT_MS }, () => {
    let trackd;
    let settings;

    before(async () => {
        trackd = await startTrackd();
        settings = { writeKey: trackd.workspace.write_key, host: trackd.baseUrl };
    });

    after(async () => {
        if (trackd) await trackd.stop();
    });

    it('stores identify, track, page and screen calls as people and events rows', async () => {
        const delivery = await send(settings, [
            ['identify', { userId: 'u1', traits: { email: 'a@example.com', plan: 'pro' } }],
            ['track', { userId: 'u1', event: 'Order Completed', properties: { total: 5 } }],
            ['track', { anonymousId: 'anon-1', event: 'Anon Viewed' }],
            ['page', { userId: 'u1', name: 'Home', properties: { url: 'https://x' } }],
            ['screen', { userId: 'u1', name: 'Main' }],
            ['group', { userId: 'u1', groupId: 'g1', traits: { name: 'Acme' } }],
        ]);
        assertDelivered(delivery);
        assert.equal(delivery.sent.length, 6, 'the SDK sent all six calls');

        const people = await trackd.query(
            `SELECT id, email, attributes->>'plan' AS plan, cio_id FROM people WHERE customer_id = 'u1'`
        );
        assert.equal(people.length, 1, 'one person u1');
        assert.equal(people[0].email, 'a@example.com');
        assert.equal(people[0].plan, 'pro');
        assert.notEqual(people[0].cio_id, null, 'trackd assigns a cio_id');
        const u1 = people[0].id;

        const events = await trackd.query(`
            SELECT type, name, person_id, anonymous_id, message_id, properties, origin,
                   abs(extract(epoch FROM now() - timestamp)) < 600 AS timestamp_is_recent,
                   received_at IS NOT NULL AS has_received_at
            FROM events ORDER BY name`);
        const byName = Object.fromEntries(events.map((e) => [e.name, e]));
        assert.deepEqual(
            Object.keys(byName).sort(),
            ['Anon Viewed', 'Home', 'Main', 'Order Completed'],
            'track, page and screen calls are events; identify and group are not'
        );

        const order = byName['Order Completed'];
        assert.equal(order.type, 'event');
        assert.equal(order.person_id, u1);
        assert.equal(String(order.properties.total), '5');
        assert.equal(order.origin, 'direct');

        const anon = byName['Anon Viewed'];
        assert.equal(anon.type, 'event');
        assert.equal(anon.person_id, null, 'an anonymous event has no person');
        assert.equal(anon.anonymous_id, 'anon-1');

        assert.equal(byName.Home.type, 'page');
        assert.equal(byName.Home.person_id, u1);
        assert.equal(byName.Home.properties.url, 'https://x');
        assert.equal(byName.Main.type, 'screen');
        assert.equal(byName.Main.person_id, u1);

        // The SDK's own messageIds are the deduplication keys, stored as sent.
        const sentIds = delivery.sent
            .filter((m) => ['track', 'page', 'screen'].includes(m.type))
            .map((m) => m.messageId)
            .sort();
        assert.deepEqual(events.map((e) => e.message_id).sort(), sentIds);
        for (const e of events) {
            assert.ok(e.timestamp_is_recent, `${e.name}: the ISO timestamp was read as now`);
            assert.ok(e.has_received_at, `${e.name}: received_at is set`);
        }
    });

    it('alias links the earlier anonymous events to the person', async () => {
        assertDelivered(
            await send(settings, [
                ['identify', { userId: 'u2', traits: { email: 'u2@example.com' } }],
                ['track', { anonymousId: 'anon-2', event: 'Viewed Before Alias', properties: { n: 1 } }],
            ])
        );
        const before = await trackd.query(
            `SELECT person_id FROM events WHERE name = 'Viewed Before Alias' AND anonymous_id = 'anon-2'`
        );
        assert.deepEqual(before, [{ person_id: null }], 'stored anonymous first');

        assertDelivered(await send(settings, [['alias', { userId: 'u2', previousId: 'anon-2' }]]));

        const [u2] = await trackd.query(`SELECT id FROM people WHERE customer_id = 'u2'`);
        assert.ok(u2, 'person u2 exists');
        const afterAlias = await trackd.query(
            `SELECT person_id FROM events WHERE name = 'Viewed Before Alias' AND anonymous_id = 'anon-2'`
        );
        assert.deepEqual(afterAlias, [{ person_id: u2.id }], 'the anonymous event now belongs to u2');
        const links = await trackd.query(
            `SELECT person_id FROM anonymous_ids WHERE anonymous_id = 'anon-2'`
        );
        assert.deepEqual(links, [{ person_id: u2.id }], 'anon-2 is linked to u2');
    });

    it('identify with the same anonymousId brings the anonymous events to the person', async () => {
        assertDelivered(
            await send(settings, [
                ['track', { anonymousId: 'anon-3', event: 'Browsed Before Signup' }],
                ['page', { anonymousId: 'anon-3', name: 'Pricing' }],
            ])
        );
        assertDelivered(
            await send(settings, [['identify', { userId: 'u3', anonymousId: 'anon-3', traits: { plan: 'trial' } }]])
        );
        const rows = await trackd.query(
            `SELECT e.name, e.origin, e.eligible_at IS NOT NULL AS eligible, p.customer_id
               FROM events e LEFT JOIN people p ON p.id = e.person_id
              WHERE e.anonymous_id = 'anon-3' ORDER BY e.name`
        );
        assert.deepEqual(rows, [
            { name: 'Browsed Before Signup', origin: 'anonymous_merge', eligible: true, customer_id: 'u3' },
            { name: 'Pricing', origin: 'anonymous_merge', eligible: true, customer_id: 'u3' },
        ]);
    });

    it('semantic events act instead of being stored', async () => {
        assertDelivered(
            await send(settings, [
                ['identify', { userId: 'u-sem', traits: { email: 'sem@example.com' } }],
                [
                    'track',
                    {
                        userId: 'u-sem',
                        event: 'Device Created or Updated',
                        properties: { app_version: '4.1' },
                        context: { device: { token: 'sem-token', type: 'android' } },
                    },
                ],
            ])
        );
        const devices = await trackd.query(
            `SELECT d.platform, d.attributes->>'app_version' AS app_version, p.customer_id
               FROM devices d JOIN people p ON p.id = d.person_id WHERE d.token = 'sem-token'`
        );
        assert.deepEqual(devices, [{ platform: 'android', app_version: '4.1', customer_id: 'u-sem' }]);

        assertDelivered(await send(settings, [['track', { userId: 'u-sem', event: 'User Deleted' }]]));
        assert.deepEqual(await trackd.query(`SELECT id FROM people WHERE customer_id = 'u-sem'`), []);
        assert.deepEqual(await trackd.query(`SELECT id FROM devices WHERE token = 'sem-token'`), []);
        const stored = await trackd.query(
            `SELECT name FROM events WHERE name IN ('Device Created or Updated', 'User Deleted')`
        );
        assert.deepEqual(stored, [], 'semantic events are not stored as events');
    });

    it('a wrong write key makes delivery fail and stores nothing', async () => {
        const delivery = await send({ ...settings, writeKey: 'not-a-write-key', maxRetries: 0 }, [
            ['identify', { userId: 'intruder', traits: { email: 'intruder@example.com' } }],
            ['track', { userId: 'intruder', event: 'Should Not Be Stored' }],
        ]);
        assert.ok(delivery.requests.length >= 1, 'the SDK did send the batch');
        for (const { method, error } of delivery.results) {
            assert.ok(error, `${method}: the SDK reports the call as failed`);
        }
        assert.ok(delivery.errors.length >= 1, "the SDK emitted 'error'");
        for (const error of delivery.errors) {
            assert.equal(error.code, 'delivery_failure');
            assert.match(String(error.reason), /401/, 'trackd answered 401');
        }

        const people = await trackd.query(`SELECT id FROM people WHERE customer_id = 'intruder'`);
        assert.deepEqual(people, []);
        const events = await trackd.query(`SELECT id FROM events WHERE name = 'Should Not Be Stored'`);
        assert.deepEqual(events, []);
    });
});
