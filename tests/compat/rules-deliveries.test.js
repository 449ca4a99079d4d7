'use strict';
// The trigger engine end to end: rules loaded with `trackd rules load`, events sent with the
// official SDK, and a local receiver standing in for FCM and webhook targets. Each test asserts
// what the receiver got and the deliveries rows.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFile, spawn } = require('node:child_process');
const { PipelinesClient } = require('customerio-node');
const { startTrackd } = require('./harness');
const { Receiver } = require('./receiver');

const SUITE_TIMEOUT_MS = 180_000;

function webhookRule(name, event, hookPath, extra = {}) {
    return {
        name,
        trigger: { event },
        action: {
            type: 'webhook',
            url: `RECEIVER${hookPath}`,
            method: 'POST',
            headers: { 'X-Test': 'yes' },
            body: { user: '{{ person.id }}', plan: '{{ event.plan | default: "none" }}' },
        },
        ...extra,
    };
}

const RULES = [
    {
        name: 'thank-sock-buyers',
        description: 'Push a thank-you for every sock purchase over 4',
        enabled: true,
        trigger: { event: 'purchase', type: 'event' },
        conditions: [
            { field: 'event.product', op: 'eq', value: 'socks' },
            { field: 'event.price', op: 'gt', value: 4 },
        ],
        frequency: 'every_time',
        delay: '0s',
        action: {
            type: 'push',
            title: 'Thanks, {{ person.first_name | default: "friend" }}!',
            body: 'Your {{ event.product }} ship today.',
            link: 'shop://orders/{{ event.product }}',
            data: { screen: 'orders' },
        },
    },
    webhookRule('signup-hook', 'signed_up', '/hooks/ok'),
    webhookRule('flaky-hook', 'flaky_event', '/hooks/flaky'),
    webhookRule('bad-hook', 'bad_event', '/hooks/bad'),
    webhookRule('once-hook', 'login', '/hooks/once', { frequency: 'once' }),
    webhookRule('hourly-hook', 'ping', '/hooks/hourly', { frequency: { at_most_every: '1h' } }),
    webhookRule('slow-hook', 'slow_event', '/hooks/slow'),
    webhookRule('shared-hook', 'shared_event', '/hooks/shared'),
    webhookRule('delayed-hook', 'delayed_event', '/hooks/delayed', { delay: '2s' }),
    // Its URL points at a second receiver (OUTAGE), which the outage test stops and restarts.
    { ...webhookRule('outage-hook', 'outage_event', '/hooks/outage'), outage: true },
    // Client data in a webhook's URL and headers (the hardening of templates).
    {
        name: 'path-hook',
        trigger: { event: 'path_event' },
        action: {
            type: 'webhook',
            url: 'RECEIVER/u/{{ person.id }}?ref={{ event.ref }}&token=s3cret',
            headers: {
                Authorization: `Bearer ${'t'.repeat(400)}`,
                'X-Empty': '{{ event.missing }}',
                'X-User': '{{ person.id }}',
            },
            body: { user: '{{ person.id }}' },
        },
    },
    {
        name: 'header-hook',
        trigger: { event: 'header_event' },
        action: { type: 'webhook', url: 'RECEIVER/hooks/header', headers: { 'X-Note': '{{ event.note }}' } },
    },
    {
        name: 'long-url-hook',
        trigger: { event: 'long_url_event' },
        action: { type: 'webhook', url: 'RECEIVER/hooks/long?token=s3cret&q={{ event.q }}' },
    },
    {
        name: 'churn-risk',
        trigger: { event: 'subscription_cancelled' },
        action: { type: 'set_attributes', attributes: { churn_risk: 'high', reason: '{{ event.reason }}' } },
    },
];

describe('rules and deliveries against trackd', { timeout: SUITE_TIMEOUT_MS }, () => {
    let trackd;
    let receiver;
    let client;
    let rulesDir;
    let outage; // a second target, taken down by one test

    before(async () => {
        receiver = new Receiver();
        const base = await receiver.start();
        outage = new Receiver();
        const outageBase = await outage.start();
        rulesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackd-rules-'));
        for (const { outage: toOutage, ...rule } of RULES) {
            const text = JSON.stringify(rule).replaceAll('RECEIVER', toOutage ? outageBase : base);
            fs.writeFileSync(path.join(rulesDir, `${rule.name}.json`), text);
        }
        trackd = await startTrackd({
            rules: [rulesDir],
            env: {
                TRACKD_FCM_URL: `${base}/fcm`,
                TRACKD_FCM_TOKEN: 'test-token',
                TRACKD_RETRY_BASE: '1',
                TRACKD_RETRY_CAP: '2',
                TRACKD_DELIVERY_TIMEOUT: '2',
            },
        });
        connectClient();
    });

    // (Re)creates the SDK client for the server's current port (a restart picks a new one).
    function connectClient() {
        client = new PipelinesClient(trackd.workspace.write_key, {
            url: `${trackd.baseUrl}/v1`,
            strictMode: true,
        });
    }

    after(async () => {
        await trackd?.stop();
        await receiver?.stop();
        if (outage?.server.listening) await outage.stop();
        fs.rmSync(rulesDir, { recursive: true, force: true });
    });

    const deliveriesOf = (rule) =>
        trackd.query(
            `SELECT d.id, d.public_id, d.status, d.attempts, d.response_code, d.last_error, d.device_id,
                    d.delivered_at, d.opened_at, d.clicked_at, p.customer_id,
                    d.next_attempt_at - d.created_at AS delay
               FROM deliveries d JOIN rules r ON r.id = d.rule_id LEFT JOIN people p ON p.id = d.person_id
              WHERE r.name = '${rule}' ORDER BY d.id`
        );

    async function waitForStatus(rule, statuses, count = 1) {
        await receiver.waitFor(
            async () => {
                const rows = await deliveriesOf(rule);
                return rows.length >= count && rows.every((r) => statuses.includes(r.status));
            },
            30000,
            `deliveries of ${rule} to reach ${statuses}`
        );
        return deliveriesOf(rule);
    }

    async function withDevice(userId, token, traits = {}, type = 'android') {
        await client.identify({ userId, traits });
        await client.track({
            userId,
            event: 'Device Created or Updated',
            properties: {},
            context: { device: { token, type } },
        });
    }

    // POST /api/v1/metrics without credentials, as an app or an email client may.
    async function anonymousMetric(body) {
        const response = await fetch(`${trackd.baseUrl}/api/v1/metrics`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify(body),
        });
        return response.status;
    }

    it('rules load is all or nothing and names the file and field of a bad rule', async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackd-bad-rules-'));
        try {
            fs.writeFileSync(path.join(dir, 'a-good.json'), JSON.stringify(webhookRule('new-good', 'x', '/x')));
            const bad = { ...webhookRule('new-bad', 'y', '/y'), conditions: [{ field: 'event.n', op: 'bigger', value: 1 }] };
            fs.writeFileSync(path.join(dir, 'b-bad.json'), JSON.stringify(bad));
            await assert.rejects(trackd.cli(['rules', 'load', '--workspace', 'compat', dir]), (error) => {
                assert.match(String(error.message), /b-bad\.json: conditions\[0\]\.op/);
                return true;
            });
            const names = await trackd.query(`SELECT name FROM rules WHERE name LIKE 'new-%'`);
            assert.deepEqual(names, [], 'nothing was loaded');
            const listed = await trackd.cli(['rules', 'list', '--workspace', 'compat']);
            assert.match(listed, /^thank-sock-buyers\tenabled\tevent:purchase\t/m);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it('the seed rule: a sock purchase pushes a thank-you through FCM', async () => {
        await withDevice('buyer-1', 'device-token-1', { first_name: 'Ann' });
        await client.track({ userId: 'buyer-1', event: 'purchase', properties: { product: 'socks', price: '4.99' } });
        const [delivery] = await waitForStatus('thank-sock-buyers', ['sent']);
        const [push] = receiver.to('/fcm');
        assert.ok(push, 'the FCM endpoint got a request');
        assert.equal(push.headers.authorization, 'Bearer test-token');
        // Data only, every value a string, with the ids the SDK needs: no notification block,
        // which would make FCM show the push itself and keep it from the SDK.
        assert.match(delivery.public_id, /^[A-Za-z0-9_-]{22}$/);
        assert.deepEqual(push.body, {
            message: {
                token: 'device-token-1',
                data: {
                    screen: 'orders',
                    'CIO-Delivery-ID': delivery.public_id,
                    'CIO-Delivery-Token': 'device-token-1',
                    title: 'Thanks, Ann!',
                    body: 'Your socks ship today.',
                    link: 'shop://orders/socks',
                },
                android: { priority: 'high' },
            },
        });
        assert.equal(delivery.response_code, 200);
        assert.equal(delivery.customer_id, 'buyer-1');

        // The SDK reports the push delivered and opened against CIO-Delivery-ID, as it does:
        // the delivery records both.
        for (const metric of ['delivered', 'opened']) {
            await client.track({
                anonymousId: delivery.public_id,
                event: 'Report Delivery Event',
                properties: { recipient: 'device-token-1', deliveryId: delivery.public_id, metric },
            });
        }
        const [after] = await deliveriesOf('thank-sock-buyers');
        assert.ok(after.delivered_at, 'delivered_at is set');
        assert.ok(after.opened_at, 'opened_at is set');
        const [outcome] = await trackd.query(
            `SELECT delivered, opened FROM admin_rule_outcomes WHERE rule = 'thank-sock-buyers'`
        );
        assert.deepEqual(outcome, { delivered: 1, opened: 1 });
    });

    it('an ios device without APNs gets the push through FCM with an alert and CIO.push', async () => {
        await withDevice('buyer-ios', 'ios-fcm-token', { first_name: 'Io' }, 'ios');
        await client.track({ userId: 'buyer-ios', event: 'purchase', properties: { product: 'socks', price: 6 } });
        await receiver.waitFor(
            () => receiver.to('/fcm').some((r) => r.body?.message?.token === 'ios-fcm-token'),
            15000,
            'the push to the ios device'
        );
        const push = receiver.to('/fcm').find((r) => r.body.message.token === 'ios-fcm-token');
        const { message } = push.body;
        assert.equal(message.android, undefined);
        assert.equal(message.notification, undefined);
        assert.equal(message.data['CIO-Delivery-Token'], 'ios-fcm-token');
        assert.equal(message.data.link, 'shop://orders/socks');
        assert.deepEqual(message.apns, {
            headers: { 'apns-push-type': 'alert', 'apns-priority': '10' },
            payload: {
                aps: { alert: { title: 'Thanks, Io!', body: 'Your socks ship today.' }, 'mutable-content': 1 },
                CIO: { push: { link: 'shop://orders/socks' } },
            },
        });
    });

    it('metrics find a delivery by its public id; strangers cannot guess ids or fill the table', async () => {
        await withDevice('buyer-metrics', 'metrics-token');
        await client.track({ userId: 'buyer-metrics', event: 'purchase', properties: { product: 'socks', price: 7 } });
        const delivery = (await waitForStatus('thank-sock-buyers', ['sent', 'dead', 'skipped'])).find(
            (d) => d.customer_id === 'buyer-metrics'
        );
        assert.ok(delivery, 'the delivery exists');
        const metricsOf = (id) =>
            trackd.query(
                `SELECT workspace_id, metric, occurred_at, received_at FROM delivery_metrics
                  WHERE delivery_id = '${id}' ORDER BY id`
            );

        // Without credentials: an unknown id and the numeric id are answered 200 and dropped.
        assert.equal(await anonymousMetric({ delivery_id: 'no-such-delivery', metric: 'clicked' }), 200);
        assert.equal(await anonymousMetric({ delivery_id: String(delivery.id), metric: 'clicked' }), 200);
        assert.deepEqual(await metricsOf('no-such-delivery'), []);
        assert.deepEqual(await metricsOf(String(delivery.id)), []);
        assert.equal((await deliveriesOf('thank-sock-buyers')).find((d) => d.id === delivery.id).clicked_at, null);

        // The public id works without credentials; a timestamp from the future is clamped to 5
        // minutes after receipt, and the row belongs to the delivery's workspace.
        const future = Math.floor(Date.now() / 1000) + 86400;
        assert.equal(
            await anonymousMetric({ delivery_id: delivery.public_id, metric: 'clicked', timestamp: future }),
            200
        );
        const [row, ...extra] = await metricsOf(delivery.public_id);
        assert.deepEqual(extra, []);
        assert.ok(row, 'recorded');
        const [workspace] = await trackd.query(
            `SELECT workspace_id FROM deliveries WHERE id = ${delivery.id}`
        );
        assert.equal(row.workspace_id, workspace.workspace_id);
        assert.equal(new Date(row.occurred_at).getTime(), new Date(row.received_at).getTime() + 300_000);
        const after = (await deliveriesOf('thank-sock-buyers')).find((d) => d.id === delivery.id);
        assert.ok(after.clicked_at, 'clicked_at is set');
    });

    it('conditions hold back what does not match, numbers compared as numbers', async () => {
        await withDevice('buyer-2', 'device-token-2');
        await client.track({ userId: 'buyer-2', event: 'purchase', properties: { product: 'socks', price: '3' } });
        await client.track({ userId: 'buyer-2', event: 'purchase', properties: { product: 'hats', price: 10 } });
        await new Promise((r) => setTimeout(r, 800));
        const rows = await trackd.query(
            `SELECT count(*)::int AS n FROM deliveries d JOIN people p ON p.id = d.person_id
              WHERE p.customer_id = 'buyer-2'`
        );
        assert.deepEqual(rows, [{ n: 0 }]);
    });

    it('a push for a person without devices is skipped with the reason', async () => {
        await client.identify({ userId: 'buyer-3', traits: {} });
        await client.track({ userId: 'buyer-3', event: 'purchase', properties: { product: 'socks', price: 9 } });
        await receiver.waitFor(
            async () => (await deliveriesOf('thank-sock-buyers')).some((d) => d.customer_id === 'buyer-3'),
            10000,
            'the skipped delivery'
        );
        const row = (await deliveriesOf('thank-sock-buyers')).find((d) => d.customer_id === 'buyer-3');
        assert.equal(row.status, 'skipped');
        assert.match(row.last_error, /no devices/);
    });

    it('an unregistered device is removed and its delivery is dead', async () => {
        receiver.on('/fcm', (request) =>
            request.body?.message?.token === 'stale-token'
                ? { status: 404, body: { error: { status: 'NOT_FOUND', details: [{ errorCode: 'UNREGISTERED' }] } } }
                : { status: 200, body: { name: 'projects/p/messages/1' } }
        );
        await withDevice('buyer-4', 'stale-token');
        await client.track({ userId: 'buyer-4', event: 'purchase', properties: { product: 'socks', price: 5 } });
        await receiver.waitFor(
            async () =>
                (await deliveriesOf('thank-sock-buyers')).some((d) => d.customer_id === 'buyer-4' && d.status === 'dead'),
            15000,
            'the dead delivery'
        );
        const devices = await trackd.query(`SELECT id FROM devices WHERE token = 'stale-token'`);
        assert.deepEqual(devices, []);
    });

    it('a webhook carries the idempotency headers and the rendered body', async () => {
        await client.track({ userId: 'hooked', event: 'signed_up', properties: { plan: 'pro "gold"' } });
        const [delivery] = await waitForStatus('signup-hook', ['sent']);
        const [request] = receiver.to('/hooks/ok');
        assert.equal(request.method, 'POST');
        assert.equal(request.headers['idempotency-key'], String(delivery.id));
        assert.equal(request.headers['x-trackd-delivery'], String(delivery.id));
        assert.equal(request.headers['x-test'], 'yes');
        assert.deepEqual(request.body, { user: 'hooked', plan: 'pro "gold"' }, 'quotes stay valid JSON');
    });

    it('values rendered into a webhook URL are percent-encoded; the rule\'s path and query stay', async () => {
        await client.track({ userId: '../../admin?x=1#', event: 'path_event', properties: { ref: 'a&b=c #d' } });
        await client.track({ userId: '..', event: 'path_event', properties: {} });
        await waitForStatus('path-hook', ['sent'], 2);
        const paths = receiver.requests.map((r) => r.path);
        assert.ok(paths.includes('/u/..%2F..%2Fadmin%3Fx%3D1%23?ref=a%26b%3Dc%20%23d&token=s3cret'), paths.join('\n'));
        assert.ok(paths.includes('/u/%2E%2E?ref=&token=s3cret'), paths.join('\n'));
        assert.ok(!paths.some((p) => p.startsWith('/admin') || p.startsWith('/?')), 'nothing outside /u/');
    });

    it('webhook headers arrive whole, and one that renders empty is sent empty', async () => {
        const request = receiver.requests.find((r) => r.path.startsWith('/u/..%2F'));
        assert.ok(request, 'the path-hook request arrived');
        assert.equal(request.headers.authorization, `Bearer ${'t'.repeat(400)}`, 'not cut');
        assert.equal(request.headers['x-empty'], '', 'sent with an empty value, not dropped');
        assert.equal(request.headers['x-user'], '../../admin?x=1#');
    });

    it('a line break in a rendered header makes the delivery dead at once, with the reason', async () => {
        await client.track({ userId: 'crlf-user', event: 'header_event', properties: { note: 'a\r\nX-Injected: 1' } });
        const [delivery] = await waitForStatus('header-hook', ['dead']);
        assert.equal(delivery.attempts, 1, 'not retried');
        assert.equal(delivery.response_code, null);
        assert.match(delivery.last_error, /action\.headers\.X-Note: the rendered value holds a line break/);
        assert.equal(receiver.to('/hooks/header').length, 0, 'nothing was sent');
    });

    it('a webhook URL that renders invalid is dead at once, with the reason, never sent', async () => {
        await client.track({ userId: 'long-url-user', event: 'long_url_event', properties: { q: 'x'.repeat(9000) } });
        const [delivery] = await waitForStatus('long-url-hook', ['dead']);
        assert.equal(delivery.attempts, 1, 'not retried');
        assert.match(delivery.last_error, /^the rendered URL is \d+ bytes long, more than 8192$/);
        assert.ok(!delivery.last_error.includes('s3cret'), 'the URL is not quoted');
        assert.ok(!receiver.requests.some((r) => r.path.startsWith('/hooks/long')), 'nothing was sent');
    });

    it('rules load refuses templates before the path and warns about templates in headers', async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackd-url-rules-'));
        try {
            for (const [file, url] of [
                ['after-host.json', `${receiver.baseUrl}{{ event.path }}`],
                ['in-host.json', 'http://{{ event.host }}/x'],
                ['in-port.json', 'http://127.0.0.1:{{ event.port }}/x'],
            ]) {
                const rule = { name: `new-${file.slice(0, -5)}`, trigger: { event: 'x' }, action: { type: 'webhook', url } };
                fs.writeFileSync(path.join(dir, file), JSON.stringify(rule));
                await assert.rejects(trackd.cli(['rules', 'load', '--workspace', 'compat', path.join(dir, file)]), (error) => {
                    assert.match(String(error.message), new RegExp(`${file}: action\\.url: .*must be written out`));
                    return true;
                });
            }
            assert.deepEqual(await trackd.query(`SELECT name FROM rules WHERE name LIKE 'new-%'`), [], 'nothing was loaded');

            const warned = { ...webhookRule('warned-hook', 'warned_event', '/hooks/warned'), enabled: false };
            warned.action.url = `${receiver.baseUrl}/hooks/warned`;
            warned.action.headers = { 'X-Static': 'yes', 'X-User': '{{ person.id }}' };
            fs.writeFileSync(path.join(dir, 'warned-hook.json'), JSON.stringify(warned));
            const stderr = await new Promise((resolve, reject) =>
                execFile(
                    process.env.TRACKD_BIN,
                    ['rules', 'load', '--workspace', 'compat', path.join(dir, 'warned-hook.json')],
                    { env: trackd.env() },
                    (error, _stdout, err) => (error ? reject(error) : resolve(err))
                )
            );
            assert.match(stderr, /warned-hook\.json: warning: action\.headers\.X-User: the value holds a template/);
            assert.doesNotMatch(stderr, /X-Static/);
            assert.equal((await trackd.query(`SELECT name FROM rules WHERE name = 'warned-hook'`)).length, 1, 'loaded');
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it('a receiver failing with 500 then recovering gets the delivery once it is back', async () => {
        receiver.on('/hooks/flaky', (_, n) => (n === 1 ? { status: 500, body: { error: 'down' } } : { status: 200 }));
        await client.track({ userId: 'flaky-user', event: 'flaky_event', properties: {} });
        const [delivery] = await waitForStatus('flaky-hook', ['sent']);
        assert.equal(delivery.attempts, 2);
        const keys = receiver.to('/hooks/flaky').map((r) => r.headers['idempotency-key']);
        assert.deepEqual(keys, [String(delivery.id), String(delivery.id)], 'the same key both times');
    });

    it('a receiver down for a while gets every delivery once it is back; others are unaffected', async () => {
        const port = new URL(outage.baseUrl).port;
        await outage.stop(); // connections to it are now refused
        for (let i = 0; i < 5; i++)
            await client.track({ userId: `outage-user-${i}`, event: 'outage_event', properties: {} });
        await client.track({ userId: 'outage-bystander', event: 'signed_up', properties: {} });
        // The other receiver is served while the outage lasts...
        await receiver.waitFor(
            () => receiver.to('/hooks/ok').some((r) => r.body.user === 'outage-bystander'),
            20000,
            'the delivery to the receiver that is up'
        );
        // ...and the down one's deliveries wait for a retry, failing on the connection.
        await receiver.waitFor(
            async () => {
                const rows = await deliveriesOf('outage-hook');
                return rows.length === 5 && rows.every((r) => r.status === 'retrying' && r.attempts >= 2);
            },
            20000,
            'the deliveries to the down receiver to be retried'
        );
        const failing = await deliveriesOf('outage-hook');
        assert.ok(failing.every((r) => r.response_code === null && r.last_error), JSON.stringify(failing));
        assert.equal(outage.to('/hooks/outage').length, 0);

        await outage.start(Number(port));
        const sent = await waitForStatus('outage-hook', ['sent'], 5);
        assert.equal(sent.length, 5);
        const got = outage.to('/hooks/outage').map((r) => r.body.user).sort();
        assert.deepEqual(got, [0, 1, 2, 3, 4].map((i) => `outage-user-${i}`), 'each once');
    });

    it('a 400 answer makes the delivery dead at once, with the error kept', async () => {
        receiver.on('/hooks/bad', () => ({ status: 400, body: { error: 'no such hook' } }));
        await client.track({ userId: 'bad-user', event: 'bad_event', properties: {} });
        const [delivery] = await waitForStatus('bad-hook', ['dead']);
        assert.equal(delivery.attempts, 1);
        assert.equal(delivery.response_code, 400);
        assert.match(delivery.last_error, /400/);
    });

    it('frequency once fires once per person', async () => {
        await client.track({ userId: 'once-user', event: 'login', properties: {} });
        await client.track({ userId: 'once-user', event: 'login', properties: {} });
        await waitForStatus('once-hook', ['sent']);
        await new Promise((r) => setTimeout(r, 500));
        const rows = await deliveriesOf('once-hook');
        assert.equal(rows.length, 1);
    });

    it('frequency at_most_every holds back a second firing within the interval', async () => {
        await client.track({ userId: 'pinger', event: 'ping', properties: {} });
        await waitForStatus('hourly-hook', ['sent']);
        await client.track({ userId: 'pinger', event: 'ping', properties: {} });
        await client.track({ userId: 'other-pinger', event: 'ping', properties: {} });
        await waitForStatus('hourly-hook', ['sent'], 2);
        await new Promise((r) => setTimeout(r, 500));
        const rows = await deliveriesOf('hourly-hook');
        assert.deepEqual(rows.map((r) => r.customer_id).sort(), ['other-pinger', 'pinger']);
    });

    it('a delay schedules the delivery', async () => {
        await client.track({ userId: 'delayed-user', event: 'delayed_event', properties: {} });
        const [delivery] = await waitForStatus('delayed-hook', ['sent']);
        assert.ok(delivery.delay.seconds >= 2 || delivery.delay.startsWith?.('00:00:02'), JSON.stringify(delivery.delay));
    });

    it('set_attributes updates the person', async () => {
        await client.identify({ userId: 'churner', traits: { plan: 'pro' } });
        await client.track({ userId: 'churner', event: 'subscription_cancelled', properties: { reason: 'price' } });
        await waitForStatus('churn-risk', ['sent']);
        const [person] = await trackd.query(`SELECT attributes FROM people WHERE customer_id = 'churner'`);
        assert.deepEqual(person.attributes, { plan: 'pro', churn_risk: 'high', reason: 'price' });
    });

    it('anonymous events fire once linked, old ones never', async () => {
        const old = new Date(Date.now() - 4 * 24 * 3600 * 1000).toISOString();
        await client.track({ anonymousId: 'anon-fire', event: 'signed_up', properties: { plan: 'early' } });
        await client.track({ anonymousId: 'anon-fire', event: 'signed_up', properties: { plan: 'stale' }, timestamp: old });
        await new Promise((r) => setTimeout(r, 500));
        assert.equal(receiver.to('/hooks/ok').filter((r) => r.body.plan === 'early').length, 0, 'not while anonymous');
        await client.identify({ userId: 'linked-later', anonymousId: 'anon-fire', traits: {} });
        await receiver.waitFor(
            () => receiver.to('/hooks/ok').some((r) => r.body.plan === 'early'),
            15000,
            'the linked event to fire'
        );
        await new Promise((r) => setTimeout(r, 500));
        assert.equal(receiver.to('/hooks/ok').filter((r) => r.body.plan === 'stale').length, 0, 'never the old one');
    });

    it('a worker killed mid-send delivers after restart, with the same idempotency key', async () => {
        let release;
        const held = new Promise((r) => (release = r));
        receiver.on('/hooks/slow', async (_, n) => {
            if (n === 1) {
                await held; // the first attempt hangs until trackd is gone
                return null;
            }
            return { status: 200 };
        });
        await client.track({ userId: 'slow-user', event: 'slow_event', properties: {} });
        await receiver.waitFor(() => receiver.to('/hooks/slow').length === 1, 15000, 'the first attempt');
        trackd.child.kill('SIGKILL');
        await new Promise((r) => trackd.child.once('exit', r));
        release();
        await trackd.serve();
        connectClient();
        const [delivery] = await waitForStatus('slow-hook', ['sent']);
        const keys = receiver.to('/hooks/slow').map((r) => r.headers['idempotency-key']);
        assert.ok(keys.length >= 2, 'sent again after the restart');
        assert.ok(keys.every((k) => k === String(delivery.id)), 'always with the same key');
    });

    it('two worker processes share the queue without sending anything twice', async () => {
        const workers = [0, 1].map(() =>
            spawn(process.env.TRACKD_BIN, ['worker'], { env: trackd.env({ TRACKD_LOG_LEVEL: 'warn' }), stdio: 'ignore' })
        );
        try {
            for (let i = 0; i < 40; i++) {
                await client.track({ userId: `shared-${i}`, event: 'shared_event', properties: {} });
            }
            await waitForStatus('shared-hook', ['sent'], 40);
            const keys = receiver.to('/hooks/shared').map((r) => r.headers['idempotency-key']);
            assert.equal(keys.length, 40, 'forty sends');
            assert.equal(new Set(keys).size, 40, 'each delivery sent once');
        } finally {
            for (const w of workers) w.kill('SIGTERM');
        }
    });
});
