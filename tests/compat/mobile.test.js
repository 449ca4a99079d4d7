'use strict';
// Customer.io's mobile SDKs, byte for byte as they talk: Android 4.x (Segment's analytics-kotlin:
// settings fetched over HTTPS, then gzipped, chunked text/plain batches with the write key in the
// body) and iOS 3.x (analytics-swift: JSON batches with Basic auth). Pushes go to a local receiver
// standing in for FCM and to an HTTP/2 stand-in for APNs; the apps' delivered/opened reports
// come back. Each test asserts what an app or an admin would observe: answers, the push as the
// device gets it, and rows.
//
// Certificates are made at run time (openssl CLI) under a test CA that clients, trackd
// (TRACKD_CA_FILE) and the stand-ins trust.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');
const { spawn } = require('node:child_process');
const { startTrackd, REPO_ROOT } = require('./harness');
const { Receiver } = require('./receiver');
const { ApnsStandin } = require('./apns_standin');
const { makeTlsMaterial, send, cut, serveHttps, freePort } = require('./tls');

const SUITE_TIMEOUT_MS = 180_000;
const DELIVERY_WAIT_MS = 30_000;
const TRACKD_BIN = process.env.TRACKD_BIN || path.join(REPO_ROOT, 'build', 'trackd');

const DELIVERY_ENV = {
    TRACKD_FCM_TOKEN: 'fcm-test-token',
    TRACKD_RETRY_BASE: '1',
    TRACKD_RETRY_CAP: '2',
    TRACKD_DELIVERY_TIMEOUT: '5',
};

const APNS = { keyId: 'TESTKEY123', teamId: 'TEAM123456', topic: 'io.trackd.shop' };

// The push an order confirmation sends; link and image are templates like title and body.
const ORDER_PUSH_RULE = {
    name: 'order-confirmation-push',
    enabled: true,
    trigger: { event: 'Order Completed', type: 'event' },
    frequency: 'every_time',
    action: {
        type: 'push',
        title: 'Thanks, {{ person.first_name | default: "friend" }}!',
        body: 'Your {{ event.product }} ship today.',
        link: 'shop://orders/{{ event.order_id }}',
        image: 'https://img.example.com/{{ event.product }}.png',
        data: { screen: 'orders' },
    },
};

// What the device should get for an order of `product` with id `orderId` by `firstName`.
function orderPush(firstName, product, orderId) {
    return {
        title: `Thanks, ${firstName}!`,
        body: `Your ${product} ship today.`,
        link: `shop://orders/${orderId}`,
        image: `https://img.example.com/${product}.png`,
    };
}

const order = (product, orderId, price) => ({ product, order_id: orderId, price });
const basicAuth = (writeKey) => `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
const randomText = (bytes) => crypto.randomBytes(bytes).toString('base64url');
const fcmToken = () => `c${randomText(10)}:APA91b${randomText(100)}`;
const apnsToken = () => crypto.randomBytes(32).toString('hex');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(predicate, what, ms = DELIVERY_WAIT_MS) {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
        if (await predicate()) return;
        await sleep(50);
    }
    throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

// ---------------------------------------------------------------------------------------------
// The apps. Each models what its SDK puts on the wire; `flush()` uploads the queued calls as one
// batch the way that SDK does.

class MobileApp {
    constructor({ writeKey, ca, library, device, os: osInfo }) {
        this.writeKey = writeKey;
        this.ca = ca;
        this.library = library;
        this.device = { id: crypto.randomBytes(32).toString('hex'), ...device };
        this.os = osInfo;
        this.anonymousId = crypto.randomUUID();
        this.userId = '';
        this.token = null;
        this.queue = [];
        this.apiHost = null;
    }

    // GET https://{cdnHost}/projects/{writeKey}/settings, then every upload goes to
    // https://{apiHost}/... (the SDKs always prefix https://).
    async fetchSettings(cdnHost) {
        const answer = await send(`https://${cdnHost}/projects/${this.writeKey}/settings`, {
            method: 'GET',
            headers: { 'User-Agent': this.userAgent() },
            ca: this.ca,
        });
        assert.equal(answer.status, 200, `settings: ${answer.text}`);
        this.apiHost = answer.json.integrations['Customer.io Data Pipelines'].apiHost;
        return answer.json;
    }

    context() {
        const device = { ...this.device };
        if (this.token) device.token = this.token; // Customer.io's plugin adds it to every call
        return {
            app: { name: 'Trackd Shop', version: '2.4.0', namespace: APNS.topic, build: '240' },
            device,
            os: this.os,
            library: this.library,
            network: { wifi: true, cellular: false, bluetooth: false },
            screen: { width: 1080, height: 2400, density: 2.625 },
            locale: 'en-US',
            timezone: 'Europe/Berlin',
            instanceId: this.instanceId ?? (this.instanceId = crypto.randomUUID()),
        };
    }

    call(type, fields) {
        const event = {
            ...fields,
            type,
            messageId: crypto.randomUUID(),
            anonymousId: this.anonymousId,
            integrations: {},
            context: this.context(),
            timestamp: new Date().toISOString(),
        };
        return this.decorate(event);
    }

    track(event, properties = {}) {
        this.queue.push(this.call('track', { event, properties }));
    }

    screen(name, properties = {}) {
        this.queue.push(this.call('screen', { name, properties }));
    }

    identify(userId, traits) {
        this.userId = userId;
        this.queue.push(this.call('identify', { traits }));
    }

    // What Customer.io's SDKs send when the push token is known (again on each identify).
    registerDevice(token, attributes) {
        this.token = token;
        this.track('Device Created or Updated', attributes);
    }

    takeBatch() {
        const batch = this.queue;
        this.queue = [];
        return { batch, sentAt: new Date().toISOString(), writeKey: this.writeKey };
    }

    // The SDK's delivery metric: straight to /track, Basic auth, the delivery id as anonymousId.
    reportMetric(deliveryId, metric) {
        const event = this.metricEvent(deliveryId, metric);
        return send(`https://${this.apiHost}/track`, {
            headers: {
                Authorization: basicAuth(this.writeKey),
                'Content-Type': 'application/json; charset=utf-8',
                'User-Agent': this.userAgent(),
            },
            body: JSON.stringify(event),
            ca: this.ca,
        });
    }

    // Reports are not the person's calls: no userId, the delivery id as the anonymous id.
    metricEvent(deliveryId, metric) {
        const userId = this.userId;
        this.userId = '';
        const event = this.call('track', {
            event: 'Report Delivery Event',
            properties: { recipient: this.token, metric, deliveryId },
        });
        this.userId = userId;
        event.anonymousId = deliveryId;
        return event;
    }
}

// Android 4.x = analytics-kotlin: every field is always serialised (an anonymous call has
// "userId":""), uploads are gzipped and streamed in chunks, the write key rides in the body.
class AndroidApp extends MobileApp {
    constructor(options) {
        super({
            ...options,
            library: { name: 'analytics-kotlin', version: '1.16.3' },
            device: { manufacturer: 'Google', model: 'Pixel 8', name: 'shiba', type: 'android' },
            os: { name: 'Android', version: '14' },
        });
    }

    userAgent() {
        return 'analytics-kotlin/1.16.3';
    }

    decorate(event) {
        const out = { ...event, userId: this.userId, _metadata: { bundled: [], unbundled: [], bundledIds: [] } };
        if (out.type === 'screen') out.category = '';
        return out;
    }

    flush() {
        const gzipped = zlib.gzipSync(JSON.stringify(this.takeBatch()));
        return send(`https://${this.apiHost}/b`, {
            headers: {
                'Content-Type': 'text/plain',
                'Content-Encoding': 'gzip',
                'Transfer-Encoding': 'chunked',
                'User-Agent': this.userAgent(),
            },
            chunks: cut(gzipped, 4),
            ca: this.ca,
        });
    }
}

// iOS 3.x = analytics-swift: JSON with Basic auth; absent ids are left out.
class IosApp extends MobileApp {
    constructor(options) {
        super({
            ...options,
            library: { name: 'analytics-swift', version: '1.5.11' },
            device: { manufacturer: 'Apple', model: 'iPhone15,2', name: 'iPhone', type: 'ios' },
            os: { name: 'iOS', version: '17.4' },
        });
        this.scheme = options.scheme ?? 'https';
    }

    userAgent() {
        return 'analytics-ios/1.5.11';
    }

    decorate(event) {
        const out = { ...event, _metadata: { bundled: [], unbundled: [], bundledIds: [] } };
        if (this.userId) out.userId = this.userId;
        return out;
    }

    flush() {
        return send(`${this.scheme}://${this.apiHost}/b`, {
            headers: {
                Authorization: basicAuth(this.writeKey),
                'Content-Type': 'application/json; charset=utf-8',
                'User-Agent': this.userAgent(),
                'Accept-Encoding': 'gzip',
            },
            body: JSON.stringify(this.takeBatch()),
            ca: this.ca,
        });
    }
}

function deviceAttributes(app, extra = {}) {
    return {
        device_os: app.os.version,
        device_model: app.device.model,
        device_manufacturer: app.device.manufacturer,
        app_version: '2.4.0',
        cio_sdk_version: app instanceof AndroidApp ? '4.5.0' : '3.3.0',
        device_locale: 'en-US',
        push_enabled: true,
        ...extra,
    };
}

// ---------------------------------------------------------------------------------------------
// Rows.

function deliveriesFor(trackd, customerId) {
    return trackd.query(
        `SELECT d.id, d.public_id, d.status, d.attempts, d.response_code, d.last_error, d.device_id,
                d.action->>'token' AS token, d.delivered_at, d.opened_at
           FROM deliveries d JOIN people p ON p.id = d.person_id
          WHERE p.customer_id = '${customerId}' ORDER BY d.id`
    );
}

// Waits until `customerId` has `count` deliveries, all finished (sent, dead or skipped).
async function finishedDeliveries(trackd, customerId, count) {
    let rows = [];
    await waitFor(async () => {
        rows = await deliveriesFor(trackd, customerId);
        return rows.length >= count && rows.every((r) => ['sent', 'dead', 'skipped'].includes(r.status));
    }, `${count} finished deliveries for ${customerId} (have ${JSON.stringify(rows)})`).catch(async (error) => {
        error.message += `\n${trackd.serverOutput()}`;
        throw error;
    });
    return rows;
}

// Uploads what the app has queued and `orders` after it; resolves with the deliveries that
// follow (`perOrder` each: one per device), once every one is finished.
async function placeOrders(trackd, app, customerId, orders, perOrder = 1) {
    const before = (await deliveriesFor(trackd, customerId)).length;
    for (const order of orders) app.track('Order Completed', order);
    const answer = await app.flush();
    assert.equal(answer.status, 200, answer.text);
    const rows = await finishedDeliveries(trackd, customerId, before + orders.length * perOrder);
    return rows.slice(before);
}

async function ruleOutcomes(trackd) {
    const [row] = await trackd.query(
        `SELECT sent, dead, delivered, opened FROM admin_rule_outcomes WHERE rule = '${ORDER_PUSH_RULE.name}'`
    );
    return row;
}

// What a report about `deliveryId` must not leave behind: a person, a link or an event.
async function traces(trackd, deliveryId) {
    return trackd.query(
        `SELECT 'person' AS kind FROM people WHERE customer_id = '${deliveryId}' OR cio_id = '${deliveryId}'
         UNION ALL SELECT 'anonymous_id' FROM anonymous_ids WHERE anonymous_id = '${deliveryId}'
         UNION ALL SELECT 'event' FROM events WHERE anonymous_id = '${deliveryId}' OR name = 'Report Delivery Event'`
    );
}

function writeRules(rules) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackd-mobile-rules-'));
    for (const rule of rules) fs.writeFileSync(path.join(dir, `${rule.name}.json`), JSON.stringify(rule));
    return dir;
}

// ---------------------------------------------------------------------------------------------

describe('mobile apps against trackd', { timeout: SUITE_TIMEOUT_MS * 4 }, () => {
    let tls;
    let tlsDir;
    let rulesDir;

    before(() => {
        tlsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackd-mobile-tls-'));
        tls = makeTlsMaterial(tlsDir);
        rulesDir = writeRules([ORDER_PUSH_RULE]);
    });

    after(() => {
        if (tlsDir) fs.rmSync(tlsDir, { recursive: true, force: true });
        if (rulesDir) fs.rmSync(rulesDir, { recursive: true, force: true });
    });

    const within = { timeout: SUITE_TIMEOUT_MS };

    describe('an Android app (analytics-kotlin) over HTTPS, pushes through FCM', within, () => {
        let trackd;
        let fcm;
        let app;
        let cdnHost;
        const token = fcmToken();
        const userId = 'android-user-1';

        before(async () => {
            fcm = new Receiver();
            const fcmBase = await fcm.start();
            const env = { ...DELIVERY_ENV, TRACKD_FCM_URL: `${fcmBase}/fcm` };
            trackd = await startTrackd({ rules: [rulesDir], env });
            await serveHttps(trackd, tls);
            cdnHost = `127.0.0.1:${trackd.port}/v1`;
            app = new AndroidApp({ writeKey: trackd.workspace.write_key, ca: tls.ca });
            await app.fetchSettings(cdnHost);
        });

        after(async () => {
            await trackd?.stop();
            await fcm?.stop();
        });

        it('serves the settings document over HTTPS, pointing the SDK back at itself', async () => {
            const settings = await app.fetchSettings(cdnHost);
            assert.deepEqual(settings.integrations['Customer.io Data Pipelines'], {
                apiKey: trackd.workspace.write_key,
                apiHost: cdnHost,
                protocol: 'https',
            });
        });

        it('answers an unknown write key\'s settings with 404', async () => {
            const url = `https://${cdnHost}/projects/not-a-write-key/settings`;
            const answer = await send(url, { method: 'GET', ca: tls.ca });
            assert.equal(answer.status, 404);
        });

        it('joins the first anonymous minutes to the person who signs in, with the device', async () => {
            // Installed and browsing, not signed in; the token arrives before identify.
            app.track('Application Installed', { version: '2.4.0', build: '240' });
            app.screen('Home');
            app.registerDevice(token, deviceAttributes(app));
            app.screen('Product', { sku: 'socks-1' });
            const first = await app.flush();
            assert.equal(first.status, 200, first.text);

            const anonymous = await trackd.query(
                `SELECT name, person_id FROM events WHERE anonymous_id = '${app.anonymousId}' ORDER BY id`
            );
            assert.deepEqual(
                anonymous.map((e) => [e.name, e.person_id]),
                [['Application Installed', null], ['Home', null], ['Product', null]],
                'stored anonymously; the device event is no event row'
            );

            // Signs in: identify, and the SDK registers the device again, now with the userId.
            app.identify(userId, { email: 'ann@example.com', first_name: 'Ann' });
            app.registerDevice(token, deviceAttributes(app));
            const second = await app.flush();
            assert.equal(second.status, 200, second.text);

            const [person] = await trackd.query(`SELECT id, email FROM people WHERE customer_id = '${userId}'`);
            assert.ok(person, 'identify created the person');
            assert.equal(person.email, 'ann@example.com');
            const joined = await trackd.query(
                `SELECT name, type, person_id, origin FROM events
                  WHERE anonymous_id = '${app.anonymousId}' ORDER BY id`
            );
            assert.deepEqual(joined, [
                { name: 'Application Installed', type: 'event', person_id: person.id, origin: 'anonymous_merge' },
                { name: 'Home', type: 'screen', person_id: person.id, origin: 'anonymous_merge' },
                { name: 'Product', type: 'screen', person_id: person.id, origin: 'anonymous_merge' },
            ]);
            assert.deepEqual(
                await trackd.query(`SELECT person_id FROM anonymous_ids WHERE anonymous_id = '${app.anonymousId}'`),
                [{ person_id: person.id }]
            );
            const devices = await trackd.query(`SELECT person_id, token, platform, attributes FROM devices`);
            assert.equal(devices.length, 1, JSON.stringify(devices));
            assert.equal(devices[0].person_id, person.id);
            assert.equal(devices[0].token, token);
            assert.equal(devices[0].platform, 'android');
            for (const [key, value] of Object.entries(deviceAttributes(app))) {
                assert.deepEqual(devices[0].attributes[key], value, `device attribute ${key}`);
            }
            assert.deepEqual(
                await trackd.query(`SELECT count(*)::int AS n FROM people`),
                [{ n: 1 }],
                'nobody else was created (no person for the anonymous id or the empty userId)'
            );
        });

        it('pushes an order confirmation through FCM as data the SDK renders itself', async () => {
            const [delivery] = await placeOrders(trackd, app, userId, [order('socks', 'A-1001', 4.99)]);
            assert.equal(delivery.status, 'sent', JSON.stringify(delivery));
            assert.match(delivery.public_id, /^[A-Za-z0-9_-]{16,}$/, 'an unguessable id');
            assert.notEqual(delivery.public_id, String(delivery.id));
            const pushes = fcm.to('/fcm');
            assert.equal(pushes.length, 1, 'the FCM stand-in got one request');
            const [push] = pushes;
            assert.equal(push.headers.authorization, 'Bearer fcm-test-token');
            assert.deepEqual(push.body, {
                message: {
                    token,
                    data: {
                        'CIO-Delivery-ID': delivery.public_id,
                        'CIO-Delivery-Token': token,
                        ...orderPush('Ann', 'socks', 'A-1001'),
                        screen: 'orders',
                    },
                    android: { priority: 'high' },
                },
            });
            for (const [key, value] of Object.entries(push.body.message.data)) {
                assert.equal(typeof value, 'string', `data.${key} is a string (FCM refuses anything else)`);
            }
        });

        it('records the app\'s delivered and opened reports on the delivery, and nothing else', async () => {
            const [delivery] = await placeOrders(trackd, app, userId, [order('socks', 'A-1002', 5)]);
            assert.equal(delivery.status, 'sent');
            const peopleBefore = await trackd.query(`SELECT count(*)::int AS n FROM people`);

            const delivered = await app.reportMetric(delivery.public_id, 'delivered');
            assert.equal(delivered.status, 200, delivered.text);
            const opened = await app.reportMetric(delivery.public_id, 'opened');
            assert.equal(opened.status, 200, opened.text);

            const [after] = (await deliveriesFor(trackd, userId)).filter((d) => d.id === delivery.id);
            assert.ok(after.delivered_at, 'delivered_at is set');
            assert.ok(after.opened_at, 'opened_at is set');
            const outcomes = await ruleOutcomes(trackd);
            assert.deepEqual([outcomes.delivered, outcomes.opened], [1, 1], JSON.stringify(outcomes));
            assert.deepEqual(await traces(trackd, delivery.public_id), []);
            assert.deepEqual(await trackd.query(`SELECT count(*)::int AS n FROM people`), peopleBefore);
        });

        it('takes reports from older SDKs at /push/events at the host root, without credentials', async () => {
            const [delivery] = await placeOrders(trackd, app, userId, [order('hats', 'A-1003', 12)]);
            assert.equal(delivery.status, 'sent');
            const deliveryNow = async () =>
                (await deliveriesFor(trackd, userId)).find((d) => d.id === delivery.id);

            const root = `https://127.0.0.1:${trackd.port}`;
            const report = (route, event) =>
                send(`${root}${route}`, {
                    headers: { 'Content-Type': 'application/json' },
                    body: JSON.stringify({
                        delivery_id: delivery.public_id,
                        event,
                        device_id: token,
                        timestamp: Math.floor(Date.now() / 1000),
                    }),
                    ca: tls.ca,
                });
            const opened = await report('/push/events', 'opened');
            assert.equal(opened.status, 200, opened.text);
            let after = await deliveryNow();
            assert.ok(after.opened_at, 'opened_at is set');
            assert.equal(after.delivered_at, null);

            const delivered = await report('/api/v1/push/events', 'delivered');
            assert.equal(delivered.status, 200, delivered.text);
            after = await deliveryNow();
            assert.ok(after.delivered_at, 'delivered_at is set');
            assert.deepEqual(await traces(trackd, delivery.public_id), []);
        });

        it('counts a numeric delivery id only with the workspace\'s key, and a made-up one never', async () => {
            const [delivery] = await placeOrders(trackd, app, userId, [order('scarves', 'A-1004', 20)]);
            const metricsBefore = await trackd.query(`SELECT count(*)::int AS n FROM delivery_metrics`);

            for (const deliveryId of ['made-up-delivery-id', String(delivery.id)]) {
                for (const route of ['/push/events', '/api/v1/push/events']) {
                    const answer = await send(`https://127.0.0.1:${trackd.port}${route}`, {
                        headers: { 'Content-Type': 'application/json' },
                        body: JSON.stringify({ delivery_id: deliveryId, event: 'opened', device_id: token }),
                        ca: tls.ca,
                    });
                    assert.equal(answer.status, 200, `${route} ${deliveryId}: ${answer.text}`);
                }
            }
            const [after] = (await deliveriesFor(trackd, userId)).filter((d) => d.id === delivery.id);
            assert.equal(after.opened_at, null, 'a guessed numeric id opens nothing');
            assert.deepEqual(await trackd.query(`SELECT count(*)::int AS n FROM delivery_metrics`), metricsBefore);
            assert.deepEqual(await traces(trackd, 'made-up-delivery-id'), []);

            // The numeric id does name the delivery for a caller with the workspace's key.
            const withKey = await app.reportMetric(String(delivery.id), 'opened');
            assert.equal(withKey.status, 200, withKey.text);
            const [opened] = (await deliveriesFor(trackd, userId)).filter((d) => d.id === delivery.id);
            assert.ok(opened.opened_at, 'opened with the write key');
        });
    });

    describe('an iOS app (analytics-swift) over HTTPS, pushes through APNs', within, () => {
        let trackd;
        let fcm;
        let apns;
        let app;
        const userId = 'ios-user-1';
        const iphone = apnsToken();
        const ipad = apnsToken(); // uninstalled: APNs answers 410

        before(async () => {
            fcm = new Receiver();
            const fcmBase = await fcm.start();
            apns = new ApnsStandin(tls.apns, { publicKey: tls.p8PublicKey, ...APNS });
            await apns.start();
            trackd = await startTrackd({
                rules: [rulesDir],
                env: {
                    ...DELIVERY_ENV,
                    TRACKD_FCM_URL: `${fcmBase}/fcm`,
                    TRACKD_APNS_KEY_FILE: tls.p8,
                    TRACKD_APNS_KEY_ID: APNS.keyId,
                    TRACKD_APNS_TEAM_ID: APNS.teamId,
                    TRACKD_APNS_TOPIC: APNS.topic,
                    TRACKD_APNS_URL: apns.url,
                    TRACKD_CA_FILE: tls.caFile,
                },
            });
            await serveHttps(trackd, tls);
            app = new IosApp({ writeKey: trackd.workspace.write_key, ca: tls.ca });
            await app.fetchSettings(`127.0.0.1:${trackd.port}/v1`);
        });

        after(async () => {
            await trackd?.stop();
            await apns?.stop();
            await fcm?.stop();
        });

        it('the APNs stand-in refuses what Apple would refuse', async () => {
            // Without this, the checks below could pass against a stand-in that accepts anything.
            assert.equal(apns.checkJwt('bearer a.b.c').status, 403);
            const other = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
            const forged = signJwt(other, APNS.keyId, APNS.teamId);
            assert.deepEqual([apns.checkJwt(`bearer ${forged}`).reason], ['InvalidProviderToken']);
            const good = signJwt(crypto.createPrivateKey(fs.readFileSync(tls.p8)), APNS.keyId, APNS.teamId);
            assert.equal(apns.checkJwt(`bearer ${good}`).status, 200);
            assert.equal(apns.checkJwt(`bearer ${signJwt(other, 'OTHERKEY00', APNS.teamId)}`).status, 403);
        });

        it('pushes to an iPhone through APNs with a signed token, and drops an uninstalled iPad', async () => {
            apns.answer(ipad, 410, 'Unregistered');
            app.identify(userId, { email: 'ben@example.com', first_name: 'Ben' });
            app.registerDevice(iphone, deviceAttributes(app));
            app.registerDevice(ipad, deviceAttributes(app, { device_model: 'iPad13,4' }));
            const rows = await placeOrders(trackd, app, userId, [order('socks', 'B-2001', 9.5)], 2);
            const toIphone = rows.find((d) => d.token === iphone);
            const toIpad = rows.find((d) => d.token === ipad);
            assert.ok(toIphone && toIpad, `one delivery per device: ${JSON.stringify(rows)}`);
            assert.equal(toIphone.status, 'sent', JSON.stringify(toIphone));

            const pushes = apns.to(iphone);
            assert.equal(pushes.length, 1, 'the APNs stand-in got one push for the iPhone');
            const [push] = pushes;
            assert.equal(push.problem, null, `APNs would refuse it: ${push.problem}`);
            assert.equal(push.path, `/3/device/${iphone}`);
            assert.equal(push.headers['apns-topic'], APNS.topic);
            assert.equal(push.headers['apns-push-type'], 'alert');
            assert.equal(push.jwt.header.alg, 'ES256');
            assert.equal(push.jwt.header.kid, APNS.keyId);
            assert.equal(push.jwt.claims.iss, APNS.teamId);
            assert.ok(Math.abs(push.jwt.claims.iat - Date.now() / 1000) < 300, `iat ${push.jwt.claims.iat} is now`);

            const expected = orderPush('Ben', 'socks', 'B-2001');
            assert.deepEqual(push.body.aps.alert, { title: expected.title, body: expected.body });
            assert.equal(push.body.aps['mutable-content'], 1, 'the notification service extension runs');
            assert.equal(push.body['CIO-Delivery-ID'], toIphone.public_id);
            assert.equal(push.body['CIO-Delivery-Token'], iphone);
            assert.deepEqual(push.body.CIO, { push: { link: expected.link, image: expected.image } });
            assert.equal(push.body.screen, 'orders', "the rule's data sits in userInfo, where the app reads it");

            assert.equal(toIpad.status, 'dead', JSON.stringify(toIpad));
            assert.equal(toIpad.response_code, 410);
            assert.match(String(toIpad.last_error), /Unregistered/);
            const ipads = await trackd.query(`SELECT token FROM devices WHERE token = '${ipad}'`);
            assert.deepEqual(ipads, [], 'the iPad is gone');
            assert.deepEqual(
                await trackd.query(`SELECT platform FROM devices WHERE token = '${iphone}'`),
                [{ platform: 'ios' }]
            );
            assert.deepEqual(fcm.requests, [], 'nothing for iOS went to FCM');
        });

        it('records the reports the app batches back with Basic auth', async () => {
            const [delivery] = await placeOrders(trackd, app, userId, [order('hats', 'B-2002', 3)]);
            assert.equal(delivery.token, iphone, 'the iPhone is the one device left');
            assert.equal(delivery.status, 'sent');
            app.token = iphone;
            for (const metric of ['delivered', 'opened']) app.queue.push(app.metricEvent(delivery.public_id, metric));
            const answer = await app.flush();
            assert.equal(answer.status, 200, answer.text);

            const [after] = (await deliveriesFor(trackd, userId)).filter((d) => d.id === delivery.id);
            assert.ok(after.delivered_at && after.opened_at, JSON.stringify(after));
            const outcomes = await ruleOutcomes(trackd);
            assert.deepEqual([outcomes.delivered, outcomes.opened], [1, 1], JSON.stringify(outcomes));
            assert.deepEqual(await traces(trackd, delivery.public_id), []);
        });

        it('sends a burst of pushes over one HTTP/2 connection with one token', async () => {
            const before = apns.requests.length;
            const orders = [0, 1, 2, 3, 4].map((i) => order('socks', `B-30${i}`, 5));
            const rows = await placeOrders(trackd, app, userId, orders);
            assert.deepEqual(rows.map((d) => d.status), ['sent', 'sent', 'sent', 'sent', 'sent']);

            const burst = apns.requests.slice(before);
            assert.equal(burst.length, 5);
            assert.deepEqual(burst.map((r) => r.problem), [null, null, null, null, null]);
            assert.equal(new Set(burst.map((r) => r.session)).size, 1, 'one connection');
            const tokens = new Set(apns.requests.map((r) => r.jwt?.text));
            assert.equal(tokens.size, 1, 'the provider token is reused, not signed per push');
        });

        it('gives up on a push APNs refuses for a bad provider token, keeping the device', async () => {
            const genuine = apns.expect.publicKey;
            apns.expect.publicKey = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
            try {
                const [last] = await placeOrders(trackd, app, userId, [order('gloves', 'B-4001', 7)]);
                assert.equal(last.status, 'dead', JSON.stringify(last));
                assert.equal(last.response_code, 403);
                assert.match(String(last.last_error), /InvalidProviderToken/);
                const iphones = await trackd.query(`SELECT token FROM devices WHERE token = '${iphone}'`);
                assert.equal(iphones.length, 1, 'the iPhone stays');
            } finally {
                apns.expect.publicKey = genuine;
            }
        });
    });

    describe('an iOS app when only FCM is configured', within, () => {
        let trackd;
        let fcm;

        before(async () => {
            fcm = new Receiver();
            const fcmBase = await fcm.start();
            const env = { ...DELIVERY_ENV, TRACKD_FCM_URL: `${fcmBase}/fcm` };
            trackd = await startTrackd({ rules: [rulesDir], env });
        });

        after(async () => {
            await trackd?.stop();
            await fcm?.stop();
        });

        it('sends the iOS push through FCM with an apns block the SDK understands', async () => {
            const app = new IosApp({ writeKey: trackd.workspace.write_key, scheme: 'http' });
            app.apiHost = `127.0.0.1:${trackd.port}/v1`;
            const token = apnsToken();
            app.identify('ios-fcm-user', { first_name: 'Cy' });
            app.registerDevice(token, deviceAttributes(app));
            const [delivery] = await placeOrders(trackd, app, 'ios-fcm-user', [order('mittens', 'C-1', 3)]);
            assert.equal(delivery.status, 'sent', JSON.stringify(delivery));
            const [push] = fcm.to('/fcm');
            assert.ok(push, 'FCM got the push');
            const { message } = push.body;
            const expected = orderPush('Cy', 'mittens', 'C-1');
            assert.equal(message.token, token);
            assert.equal(message.notification, undefined, 'no notification block');
            assert.deepEqual(message.data, {
                'CIO-Delivery-ID': delivery.public_id,
                'CIO-Delivery-Token': token,
                ...expected,
                screen: 'orders',
            });
            assert.deepEqual(message.apns.payload.aps.alert, { title: expected.title, body: expected.body });
            assert.equal(message.apns.payload.aps['mutable-content'], 1);
            assert.deepEqual(message.apns.payload.CIO, { push: { link: expected.link, image: expected.image } });
        });
    });

    describe('compressed and streamed uploads', within, () => {
        let trackd;
        let writeKey;

        before(async () => {
            trackd = await startTrackd();
            writeKey = trackd.workspace.write_key;
        });

        after(async () => {
            await trackd?.stop();
        });

        const batchOf = (...names) => ({
            batch: names.map((event, i) => ({ type: 'track', userId: 'zipper', event, messageId: `${event}-${i}` })),
            writeKey,
        });
        const eventsNamed = async (name) =>
            (await trackd.query(`SELECT count(*)::int AS n FROM events WHERE name = '${name}'`))[0].n;
        // POST /v1/batch with Basic auth, the body compressed as `encoding` says.
        const postBatch = (body, encoding) =>
            send(`${trackd.baseUrl}/v1/batch`, {
                headers: {
                    Authorization: basicAuth(writeKey),
                    'Content-Type': 'application/json',
                    'Content-Encoding': encoding,
                },
                body,
            });
        const batchText = (...names) => JSON.stringify(batchOf(...names));

        it('refuses a gzip bomb with 413, without inflating it in memory', async () => {
            // 50 MB of zeros in 50 KB, streamed as an app would. Inflation must stop at the
            // 500 KB limit; the answer comes once the (small) compressed body has been read.
            const bomb = zlib.gzipSync(Buffer.alloc(50 * 1024 * 1024), { level: 9 });
            const rssBefore = kb(fs.readFileSync(`/proc/${trackd.pid}/status`, 'utf8'), 'VmRSS');
            resetPeakRss(trackd.pid);

            const started = Date.now();
            const answer = await send(`${trackd.baseUrl}/v1/b`, {
                headers: { 'Content-Type': 'text/plain', 'Content-Encoding': 'gzip', 'Transfer-Encoding': 'chunked' },
                chunks: cut(bomb, 50),
            });
            const elapsed = Date.now() - started;
            assert.equal(answer.status, 413, answer.text);
            assert.ok(elapsed < 5000, `answered in ${elapsed} ms`);

            const peak = kb(fs.readFileSync(`/proc/${trackd.pid}/status`, 'utf8'), 'VmHWM');
            const grew = peak - rssBefore;
            assert.ok(grew < 20 * 1024, `peak RSS grew by ${grew} kB (the bomb inflates to 50 MB)`);
            const health = await send(`${trackd.baseUrl}/healthz`, { method: 'GET' });
            assert.equal(health.status, 200);
        });

        it('refuses a corrupt gzip body with 400 naming Content-Encoding', async () => {
            const header = zlib.gzipSync(Buffer.from('x')).subarray(0, 10);
            const corrupt = Buffer.concat([header, Buffer.alloc(64, 0xff)]);
            const answer = await postBatch(corrupt, 'gzip');
            assert.equal(answer.status, 400, answer.text);
            assert.match(answer.text, /Content-Encoding/);
        });

        it('refuses a gzip stream cut short with 400, even when what arrived is valid JSON', async () => {
            const whole = zlib.gzipSync(batchText('Cut Short'));
            const half = whole.subarray(0, Math.floor(whole.length / 2));
            const allButTrailer = whole.subarray(0, whole.length - 8); // CRC-32 and length
            for (const truncated of [half, allButTrailer]) {
                const answer = await postBatch(truncated, 'gzip');
                assert.equal(answer.status, 400, `${truncated.length} of ${whole.length} bytes: ${answer.text}`);
                assert.match(answer.text, /Content-Encoding/);
            }
            assert.equal(await eventsNamed('Cut Short'), 0);
        });

        it('answers 415 to an encoding it does not speak', async () => {
            const answer = await postBatch(zlib.brotliCompressSync(batchText('Brotli')), 'br');
            assert.equal(answer.status, 415, answer.text);
            assert.equal(await eventsNamed('Brotli'), 0);
        });

        it('takes deflate (zlib) bodies', async () => {
            const answer = await postBatch(zlib.deflateSync(batchText('Deflated')), 'deflate');
            assert.equal(answer.status, 200, answer.text);
            assert.equal(await eventsNamed('Deflated'), 1);
        });

        it('takes gzip with Basic auth on /v1/batch', async () => {
            const answer = await postBatch(zlib.gzipSync(batchText('Gzipped', 'Gzipped')), 'gzip');
            assert.equal(answer.status, 200, answer.text);
            assert.equal(await eventsNamed('Gzipped'), 2);
        });

        it('takes a gzip body made of several members, as RFC 1952 allows', async () => {
            const text = batchText('Two Members');
            const middle = Math.floor(text.length / 2);
            const body = Buffer.concat([zlib.gzipSync(text.slice(0, middle)), zlib.gzipSync(text.slice(middle))]);
            const answer = await postBatch(body, 'gzip');
            assert.equal(answer.status, 200, answer.text);
            assert.equal(await eventsNamed('Two Members'), 1);
        });

        it('answers 401 to a wrong write key inside a gzipped text/plain batch', async () => {
            const body = { ...batchOf('Wrong Key'), writeKey: 'not-a-write-key' };
            const answer = await send(`${trackd.baseUrl}/v1/b`, {
                headers: { 'Content-Type': 'text/plain', 'Content-Encoding': 'gzip', 'Transfer-Encoding': 'chunked' },
                chunks: cut(zlib.gzipSync(JSON.stringify(body)), 3),
            });
            assert.equal(answer.status, 401, answer.text);
            assert.equal(await eventsNamed('Wrong Key'), 0);
        });

        it('applies the 32 KB item limit to the inflated item', async () => {
            const body = batchOf('Small Item', 'Big Item');
            body.batch[1].properties = { blob: 'z'.repeat(33 * 1024) }; // compresses to almost nothing
            const gzipped = zlib.gzipSync(JSON.stringify(body));
            assert.ok(gzipped.length < 2048);
            const answer = await postBatch(gzipped, 'gzip');
            assert.equal(answer.status, 207, answer.text);
            assert.deepEqual(answer.json.errors.map((e) => e.batch_index), [1]);
            assert.equal(await eventsNamed('Small Item'), 1);
            assert.equal(await eventsNamed('Big Item'), 0);
        });
    });

    describe('TLS settings', within, () => {
        let trackd;

        before(async () => {
            // Plain HTTP behind a proxy that terminates TLS; also the database the refused
            // serve runs below may connect to.
            trackd = await startTrackd({ env: { TRACKD_PUBLIC_URL: 'https://track.example.com/' } });
        });

        it('behind a TLS-terminating proxy, the settings document names the public host', async () => {
            const answer = await send(`${trackd.baseUrl}/v1/projects/${trackd.workspace.write_key}/settings`, {
                method: 'GET',
            });
            assert.equal(answer.status, 200, answer.text);
            assert.deepEqual(answer.json.integrations['Customer.io Data Pipelines'], {
                apiKey: trackd.workspace.write_key,
                apiHost: 'track.example.com/v1',
                protocol: 'https',
            });
        });

        after(async () => {
            await trackd?.stop();
        });

        it('serve exits 2 naming TRACKD_TLS_CERT when the certificate file is missing', async () => {
            const result = await serveOnce(trackd, {
                TRACKD_TLS_CERT: path.join(tlsDir, 'no-such-cert.pem'),
                TRACKD_TLS_KEY: tls.server.key,
            });
            assert.equal(result.code, 2, result.output);
            assert.match(result.output, /TRACKD_TLS_CERT/);
        });

        it('serve exits 2 naming TRACKD_TLS_KEY when the key does not match the certificate', async () => {
            const result = await serveOnce(trackd, {
                TRACKD_TLS_CERT: tls.server.cert,
                TRACKD_TLS_KEY: tls.strangerKey,
            });
            assert.equal(result.code, 2, result.output);
            assert.match(result.output, /TRACKD_TLS_KEY/);
        });

        it('serve exits 2 naming TRACKD_TLS_KEY when only the certificate is given', async () => {
            const result = await serveOnce(trackd, { TRACKD_TLS_CERT: tls.server.cert });
            assert.equal(result.code, 2, result.output);
            assert.match(result.output, /TRACKD_TLS_KEY/);
        });
    });
});

// ---------------------------------------------------------------------------------------------

// An ES256 JWT as an APNs provider signs it.
function signJwt(privateKey, keyId, teamId) {
    const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const claims = { iss: teamId, iat: Math.floor(Date.now() / 1000) };
    const unsigned = `${part({ alg: 'ES256', kid: keyId })}.${part(claims)}`;
    const signature = crypto.sign('sha256', Buffer.from(unsigned), { key: privateKey, dsaEncoding: 'ieee-p1363' });
    return `${unsigned}.${signature.toString('base64url')}`;
}

function kb(status, field) {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    assert.ok(match, `${field} in /proc/<pid>/status`);
    return Number(match[1]);
}

// Makes VmHWM (peak RSS) start again from the current RSS, so that the peak seen afterwards is
// the peak of what follows.
function resetPeakRss(pid) {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

// Runs `trackd serve` once with `env` added and waits (bounded) for it to exit on its own.
async function serveOnce(trackd, env, timeoutMs = 10_000) {
    const port = await freePort();
    const child = spawn(TRACKD_BIN, ['serve'], {
        env: trackd.env({ TRACKD_LISTEN: `127.0.0.1:${port}`, TRACKD_LOG_LEVEL: 'warn', ...env }),
        stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const { code, signal } = await exited;
    clearTimeout(timer);
    if (signal) output = `killed by ${signal} (still running after ${timeoutMs} ms)\n${output}`;
    return { code, signal, output };
}
