'use strict';
// customerio-node's TrackClient, unmodified, pointed at trackd with url `<base>/api/v1`: identify,
// track, devices, delete, suppress, merge and metrics go to the Track API v1; batch() and entity()
// go to `<base>/api/v2/batch|entity` (the client derives the v2 root by replacing /api/v1 in the
// url). Basic auth "site_id:api_key". Each test asserts the rows trackd committed.
//
// How the client surfaces answers (dist/lib/request.js): any 2xx resolves to the parsed body, so a
// v2 batch answered 207 resolves to `{errors: [...]}` rather than throwing; a non-2xx rejects with
// CustomerIORequestError whose message is `meta.error`, or "N error(s):\n  - ..." built from
// `meta.errors`, or 'Unknown error' when the body has no `meta` (as a v2 400 body has).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { TrackClient, PipelinesClient, CustomerIORequestError } = require('customerio-node');
const { startTrackd } = require('./harness');

const SUITE_TIMEOUT_MS = 120_000;

// A ULID (what the Track API expects in an event's `id`): 48-bit ms time + 80 random bits.
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
function ulid() {
    let time = Date.now();
    let out = '';
    for (let i = 0; i < 10; i++) {
        out = CROCKFORD[time % 32] + out;
        time = Math.floor(time / 32);
    }
    for (const byte of crypto.randomBytes(16)) out += CROCKFORD[byte % 32];
    return out;
}

// A SQL string literal.
function lit(value) {
    return `'${String(value).replace(/'/g, "''")}'`;
}

// The messages the server put in an error body: meta.error and/or meta.errors[].
function serverMessages(error) {
    let body;
    try {
        body = JSON.parse(error.body);
    } catch {
        return [error.message];
    }
    const meta = body?.meta ?? {};
    const messages = [];
    if (typeof meta.error === 'string') messages.push(meta.error);
    if (Array.isArray(meta.errors)) messages.push(...meta.errors.map(String));
    return messages;
}

// assert.rejects validator: a CustomerIORequestError with this status.
function requestError(statusCode, check = () => {}) {
    return (error) => {
        assert.ok(error instanceof CustomerIORequestError, `got ${error?.stack ?? error}`);
        assert.equal(error.statusCode, statusCode, `status of ${error.message} / ${error.body}`);
        check(error);
        return true;
    };
}

describe('customerio-node TrackClient against trackd', { timeout: SUITE_TIMEOUT_MS }, () => {
    let trackd;
    let ws;
    let client;

    before(async () => {
        trackd = await startTrackd();
        ws = trackd.workspace;
        client = new TrackClient(ws.site_id, ws.api_key, { url: `${trackd.baseUrl}/api/v1` });
    });

    after(async () => {
        if (trackd) await trackd.stop();
    });

    // The person with this customer_id, or null; never more than one.
    async function person(customerId) {
        const rows = await trackd.query(
            `SELECT id, cio_id, customer_id, email, attributes FROM people
             WHERE customer_id = ${lit(customerId)}`
        );
        assert.ok(rows.length <= 1, `at most one person ${customerId}`);
        return rows[0] ?? null;
    }

    async function peopleWithEmail(email) {
        return trackd.query(
            `SELECT id, cio_id, customer_id, email, attributes FROM people
             WHERE lower(email) = lower(${lit(email)}) ORDER BY id`
        );
    }

    async function eventsNamed(name) {
        return trackd.query(`
            SELECT id, type, name, person_id, anonymous_id, message_id, properties, origin,
                   extract(epoch FROM "timestamp")::bigint AS ts
            FROM events WHERE name = ${lit(name)} ORDER BY id`);
    }

    async function devicesWithToken(token) {
        return trackd.query(`
            SELECT id, person_id, token, platform, attributes,
                   extract(epoch FROM last_used)::bigint AS last_used
            FROM devices WHERE token = ${lit(token)} ORDER BY id`);
    }

    async function rejectedIds() {
        const rows = await trackd.query('SELECT id FROM rejected_requests');
        return new Set(rows.map((r) => r.id));
    }

    async function rejectedSince(known) {
        const rows = await trackd.query('SELECT * FROM rejected_requests ORDER BY id');
        return rows.filter((r) => !known.has(r.id));
    }

    // ---- 1. identify ------------------------------------------------------------------------

    it('identify creates a person with customer_id and attributes', async () => {
        assert.deepEqual(await client.identify('t1-create', { plan: 'pro', seats: 3, beta: true }), {});
        const p = await person('t1-create');
        assert.ok(p, 'person t1-create exists');
        assert.equal(p.attributes.plan, 'pro');
        assert.equal(p.attributes.seats, 3);
        assert.equal(p.attributes.beta, true);
        assert.ok(p.cio_id, 'a cio_id is assigned');
    });

    it('a second identify merges attributes', async () => {
        await client.identify('t1-merge', { plan: 'pro', color: 'red' });
        const first = await person('t1-merge');
        assert.deepEqual(await client.identify('t1-merge', { color: 'blue', size: 'L' }), {});
        const p = await person('t1-merge');
        assert.equal(p.id, first.id, 'the same person');
        assert.equal(p.attributes.plan, 'pro', 'an attribute not sent is kept');
        assert.equal(p.attributes.color, 'blue', 'an attribute sent again is replaced');
        assert.equal(p.attributes.size, 'L', 'a new attribute is added');
    });

    it('identify with an attribute set to null removes it', async () => {
        await client.identify('t1-null', { plan: 'pro', coupon: 'SAVE10' });
        assert.equal((await person('t1-null')).attributes.coupon, 'SAVE10');
        assert.deepEqual(await client.identify('t1-null', { coupon: null }), {});
        const p = await person('t1-null');
        assert.ok(!Object.hasOwn(p.attributes, 'coupon'), `coupon removed from ${JSON.stringify(p.attributes)}`);
        assert.equal(p.attributes.plan, 'pro');
    });

    it('identify with email sets people.email', async () => {
        await client.identify('t1-email', { email: 't1-email@example.com', plan: 'basic' });
        const p = await person('t1-email');
        assert.ok(p, 'person t1-email exists');
        assert.equal(p.email?.toLowerCase(), 't1-email@example.com');
    });

    it("identify('cio_<cio_id>', {email}) changes that person's email", async () => {
        await client.identify('t1-cio', { email: 't1-cio-old@example.com' });
        const before = await person('t1-cio');
        assert.ok(before?.cio_id, 'person t1-cio has a cio_id');

        assert.deepEqual(await client.identify(`cio_${before.cio_id}`, { email: 't1-cio-new@example.com' }), {});
        const after = await person('t1-cio');
        assert.equal(after.id, before.id, 'the same person');
        assert.equal(after.cio_id, before.cio_id, 'cio_id is immutable');
        assert.equal(after.email?.toLowerCase(), 't1-cio-new@example.com');
        assert.deepEqual(await peopleWithEmail('t1-cio-old@example.com'), [], 'the old email is gone');
        assert.deepEqual((await peopleWithEmail('t1-cio-new@example.com')).map((r) => r.id), [before.id]);
        const [count] = await trackd.query(
            `SELECT count(*)::int AS n FROM people WHERE cio_id = ${lit(before.cio_id)}`
        );
        assert.equal(count.n, 1, 'no person was created for the cio_ path');
    });

    it('identify with _update: true for an unknown id creates nothing', async () => {
        assert.deepEqual(await client.identify('t1-ghost', { _update: true, plan: 't1-ghost-plan' }), {});
        assert.equal(await person('t1-ghost'), null);
        assert.deepEqual(
            await trackd.query(`SELECT id FROM people WHERE attributes->>'plan' = 't1-ghost-plan'`),
            []
        );
    });

    it('identify(email, {id}) of a person known by that email gives them that customer_id', async () => {
        // A person known only by email: identified with the email in the path.
        assert.deepEqual(await client.identify('t1-byemail@example.com', { plan: 'trial' }), {});
        const [known, ...others] = await peopleWithEmail('t1-byemail@example.com');
        assert.ok(known, 'identify by email created the person');
        assert.deepEqual(others, []);
        assert.equal(known.customer_id, null, 'known by email only');

        // The path's email matches case-insensitively.
        assert.deepEqual(await client.identify('T1-ByEmail@Example.com', { id: 't1-x' }), {});
        const rows = await peopleWithEmail('t1-byemail@example.com');
        assert.equal(rows.length, 1, 'no new person');
        assert.equal(rows[0].id, known.id);
        assert.equal(rows[0].customer_id, 't1-x');
        assert.equal((await person('t1-x')).id, known.id);
        assert.equal(rows[0].attributes.plan, 'trial', 'attributes kept');
    });

    it("identify of u2 with u1's email answers 200 and changes nothing", async () => {
        await client.identify('t1-u1', { email: 't1-u1@example.com', tier: 'a' });
        await client.identify('t1-u2', { tier: 'b' });
        const u1Before = await person('t1-u1');
        const u2Before = await person('t1-u2');

        assert.deepEqual(await client.identify('t1-u2', { email: 't1-u1@example.com', tier: 'c' }), {});

        const u1 = await person('t1-u1');
        const u2 = await person('t1-u2');
        assert.deepEqual(u2, u2Before, "u2's row is unchanged");
        assert.deepEqual(u1, u1Before, "u1's row is unchanged");
        assert.equal(u2.attributes.tier, 'b');
        assert.equal(u2.email, null);
        assert.equal((await peopleWithEmail('t1-u1@example.com')).length, 1);
    });

    // ---- 2. track ---------------------------------------------------------------------------

    it('track stores an event for the person (created if new), once per id', async () => {
        assert.equal(await person('t2-track'), null, 'not known before');
        const call = {
            name: 't2 purchase',
            data: { price: 23.45, sku: 'sock-1', tags: ['a', 'b'] },
            timestamp: 1700000001,
            id: ulid(),
        };
        assert.deepEqual(await client.track('t2-track', call), {});

        const p = await person('t2-track');
        assert.ok(p, 'track created person t2-track');
        const [event, ...extra] = await eventsNamed('t2 purchase');
        assert.deepEqual(extra, []);
        assert.equal(event.type, 'event');
        assert.equal(event.person_id, p.id);
        assert.deepEqual(event.properties, call.data);
        assert.equal(event.ts, 1700000001);
        assert.equal(event.message_id, call.id);
        assert.equal(event.origin, 'direct');

        assert.deepEqual(await client.track('t2-track', call), {}, 'the repeat is answered 2xx');
        assert.equal((await eventsNamed('t2 purchase')).length, 1, 'the repeat stores nothing');
    });

    it('trackPageView stores a page event named by the url', async () => {
        const url = 'https://example.com/t2/pricing?plan=pro';
        assert.deepEqual(await client.trackPageView('t2-page', url), {});
        const p = await person('t2-page');
        assert.ok(p, 'person t2-page exists');
        const [page, ...extra] = await eventsNamed(url);
        assert.deepEqual(extra, []);
        assert.equal(page.type, 'page');
        assert.equal(page.person_id, p.id);
    });

    it("track with type 'screen' stores a screen event", async () => {
        assert.deepEqual(await client.track('t2-screen', { name: 't2 Settings Screen', type: 'screen' }), {});
        const p = await person('t2-screen');
        const [screen, ...extra] = await eventsNamed('t2 Settings Screen');
        assert.deepEqual(extra, []);
        assert.equal(screen.type, 'screen');
        assert.equal(screen.person_id, p.id);
    });

    // ---- 3. trackAnonymous -------------------------------------------------------------------

    it('trackAnonymous stores an event with no person and the anonymous_id', async () => {
        assert.deepEqual(await client.trackAnonymous('t3-anon', { name: 't3 viewed', data: { x: 1 } }), {});
        const [event, ...extra] = await eventsNamed('t3 viewed');
        assert.deepEqual(extra, []);
        assert.equal(event.type, 'event');
        assert.equal(event.person_id, null);
        assert.equal(event.anonymous_id, 't3-anon');
        assert.deepEqual(event.properties, { x: 1 });
    });

    it('identify with an anonymous_id attribute brings the anonymous events to the person', async () => {
        await client.trackAnonymous('t3-link', { name: 't3 before identify', data: { step: 1 } });
        await client.identify('t3-linked', { anonymous_id: 't3-link', plan: 'pro' });
        const [event] = await eventsNamed('t3 before identify');
        const [person] = await trackd.query(
            `SELECT id, attributes FROM people WHERE customer_id = 't3-linked'`
        );
        assert.equal(event.person_id, person.id);
        assert.deepEqual(person.attributes, { plan: 'pro' }, 'anonymous_id is not an attribute');
        const [origin] = await trackd.query(
            `SELECT origin FROM events WHERE name = 't3 before identify'`
        );
        assert.equal(origin.origin, 'anonymous_merge');
    });

    // ---- 4. devices --------------------------------------------------------------------------

    it('addDevice stores a device, re-adding updates it, deleteDevice removes it', async () => {
        await client.identify('t4-dev', { plan: 'pro' });
        const p = await person('t4-dev');
        const token = `t4-token-${crypto.randomBytes(6).toString('hex')}`;

        assert.deepEqual(
            await client.addDevice('t4-dev', token, 'ios', { last_used: 1700000002, app_version: '1.0' }),
            {}
        );
        let [device, ...extra] = await devicesWithToken(token);
        assert.deepEqual(extra, []);
        assert.ok(device, 'the device is stored');
        assert.equal(device.person_id, p.id);
        assert.equal(device.platform, 'ios');
        assert.equal(device.attributes.app_version, '1.0');
        assert.equal(device.last_used, 1700000002);

        assert.deepEqual(
            await client.addDevice('t4-dev', token, 'ios', { last_used: 1700000100, app_version: '1.1' }),
            {}
        );
        const rows = await devicesWithToken(token);
        assert.equal(rows.length, 1, 'still one row for the token');
        [device] = rows;
        assert.equal(device.person_id, p.id);
        assert.equal(device.attributes.app_version, '1.1');
        assert.equal(device.last_used, 1700000100);

        assert.deepEqual(await client.deleteDevice('t4-dev', token), {});
        assert.deepEqual(await devicesWithToken(token), []);
        assert.ok(await person('t4-dev'), 'the person stays');
    });

    // ---- 5. destroy --------------------------------------------------------------------------

    it('destroy removes the person, their events and devices', async () => {
        const token = `t5-token-${crypto.randomBytes(6).toString('hex')}`;
        await client.identify('t5-gone', { email: 't5-gone@example.com' });
        await client.track('t5-gone', { name: 't5 event', data: { a: 1 } });
        await client.addDevice('t5-gone', token, 'android');
        const p = await person('t5-gone');
        assert.equal((await eventsNamed('t5 event')).length, 1);
        assert.equal((await devicesWithToken(token)).length, 1);

        assert.deepEqual(await client.destroy('t5-gone'), {});
        assert.equal(await person('t5-gone'), null);
        assert.deepEqual(await trackd.query(`SELECT id FROM people WHERE id = ${p.id}`), []);
        assert.deepEqual(await eventsNamed('t5 event'), []);
        assert.deepEqual(await trackd.query(`SELECT id FROM events WHERE person_id = ${p.id}`), []);
        assert.deepEqual(await devicesWithToken(token), []);
        assert.deepEqual(await trackd.query(`SELECT id FROM devices WHERE person_id = ${p.id}`), []);
    });

    // ---- 6. suppress / unsuppress ------------------------------------------------------------

    it('suppress deletes and blocks the identifiers; unsuppress frees them', async () => {
        const suppressionRows = () =>
            trackd.query(`
                SELECT identifier_type, identifier FROM suppressions
                WHERE identifier IN ('t6-sup', 't6-sup@example.com')
                ORDER BY identifier_type, identifier`);

        await client.identify('t6-sup', { email: 'T6-Sup@Example.com', old: 'yes' });
        await client.track('t6-sup', { name: 't6 before' });
        const old = await person('t6-sup');
        assert.ok(old, 'person t6-sup exists');

        assert.deepEqual(await client.suppress('t6-sup'), {});
        assert.equal(await person('t6-sup'), null, 'the person is deleted');
        assert.deepEqual(await eventsNamed('t6 before'), [], 'their events are deleted');
        assert.deepEqual(await suppressionRows(), [
            { identifier_type: 'email', identifier: 't6-sup@example.com' },
            { identifier_type: 'id', identifier: 't6-sup' },
        ]);

        assert.deepEqual(await client.identify('t6-sup', { plan: 'blocked' }), {});
        assert.deepEqual(await client.track('t6-sup', { name: 't6 after', data: { a: 1 } }), {});
        assert.deepEqual(await client.identify('t6-sup@example.com', { plan: 'blocked' }), {});
        assert.equal(await person('t6-sup'), null, 'identify of a suppressed id stores nothing');
        assert.deepEqual(await peopleWithEmail('t6-sup@example.com'), [], 'nor of the suppressed email');
        assert.deepEqual(await eventsNamed('t6 after'), [], 'track of a suppressed id stores nothing');

        assert.deepEqual(await client.unsuppress('t6-sup'), {});
        assert.deepEqual(await suppressionRows(), [], 'the identifiers are free');
        assert.equal(await person('t6-sup'), null, 'unsuppress does not restore the person');

        assert.deepEqual(await client.identify('t6-sup', { plan: 'fresh' }), {});
        const fresh = await person('t6-sup');
        assert.ok(fresh, 'a fresh person is created');
        assert.notEqual(fresh.id, old.id);
        assert.equal(fresh.attributes.plan, 'fresh');
        assert.ok(!Object.hasOwn(fresh.attributes, 'old'), 'nothing of the old profile comes back');
    });

    // ---- 7. mergeCustomers -------------------------------------------------------------------

    it('mergeCustomers moves the secondary into the primary', async () => {
        const token = `t7-token-${crypto.randomBytes(6).toString('hex')}`;
        await client.identify('t7-primary', { email: 't7-primary@example.com', plan: 'pro', shared: 'primary' });
        await client.identify('t7-secondary', {
            email: 't7-secondary@example.com',
            shared: 'secondary',
            extra: 'from-secondary',
        });
        await client.track('t7-primary', { name: 't7 primary event' });
        await client.track('t7-secondary', { name: 't7 secondary event', data: { k: 'v' } });
        await client.addDevice('t7-secondary', token, 'android', { app_version: '2.0' });
        const primary = await person('t7-primary');
        const secondary = await person('t7-secondary');

        assert.deepEqual(await client.mergeCustomers('id', 't7-primary', 'id', 't7-secondary'), {});

        assert.equal(await person('t7-secondary'), null, 'the secondary is gone');
        assert.deepEqual(await trackd.query(`SELECT id FROM people WHERE id = ${secondary.id}`), []);
        const merged = await person('t7-primary');
        assert.equal(merged.id, primary.id);
        assert.equal(merged.email?.toLowerCase(), 't7-primary@example.com', "the primary's email stays");
        assert.equal(merged.attributes.plan, 'pro');
        assert.equal(merged.attributes.shared, 'primary', "the primary's values win");
        assert.equal(merged.attributes.extra, 'from-secondary', 'what the primary lacked is filled');

        const [moved, ...extraMoved] = await eventsNamed('t7 secondary event');
        assert.deepEqual(extraMoved, []);
        assert.equal(moved.person_id, primary.id);
        assert.equal(moved.origin, 'profile_merge');
        assert.deepEqual(moved.properties, { k: 'v' });
        const [own] = await eventsNamed('t7 primary event');
        assert.equal(own.person_id, primary.id);
        assert.equal(own.origin, 'direct');

        const [device, ...extraDevices] = await devicesWithToken(token);
        assert.deepEqual(extraDevices, []);
        assert.equal(device.person_id, primary.id, 'the device moved to the primary');
    });

    it('mergeCustomers into an unknown primary rejects 404 naming it', async () => {
        await client.identify('t7-orphan', { plan: 'x' });
        const orphan = await person('t7-orphan');
        await assert.rejects(
            client.mergeCustomers('id', 't7-nobody', 'id', 't7-orphan'),
            requestError(404, (error) => {
                assert.match(error.message, /t7-nobody/, 'the message names the primary');
            })
        );
        assert.deepEqual(await person('t7-orphan'), orphan, 'the secondary is untouched');
        assert.equal(await person('t7-nobody'), null, 'the primary is not created');
    });

    // ---- 8. v2 batch / entity ----------------------------------------------------------------

    it('batch stores every op (POST /api/v2/batch)', async () => {
        await client.identify('t8-gone', { plan: 'to-delete' });
        assert.ok(await person('t8-gone'));
        const eventId = ulid();
        const answer = await client.batch([
            { type: 'person', identifiers: { id: 't8-batch' }, action: 'identify', attributes: { plan: 'batched', n: 1 } },
            {
                type: 'person',
                identifiers: { id: 't8-batch' },
                action: 'event',
                name: 't8 batched event',
                id: eventId,
                timestamp: 1700000003,
                attributes: { price: 9 },
            },
            { type: 'person', identifiers: { id: 't8-batch' }, action: 'page', name: 'https://example.com/t8' },
            { type: 'person', identifiers: { id: 't8-batch' }, action: 'screen', name: 't8 Screen' },
            { type: 'person', identifiers: { id: 't8-gone' }, action: 'delete' },
        ]);
        assert.deepEqual(answer, {});

        const p = await person('t8-batch');
        assert.ok(p, 'person t8-batch exists');
        assert.equal(p.attributes.plan, 'batched');
        assert.equal(p.attributes.n, 1);

        const [event, ...extra] = await eventsNamed('t8 batched event');
        assert.deepEqual(extra, []);
        assert.equal(event.type, 'event');
        assert.equal(event.person_id, p.id);
        assert.equal(event.message_id, eventId);
        assert.equal(event.ts, 1700000003);
        assert.deepEqual(event.properties, { price: 9 });

        const [page] = await eventsNamed('https://example.com/t8');
        assert.equal(page?.type, 'page');
        assert.equal(page.person_id, p.id);
        const [screen] = await eventsNamed('t8 Screen');
        assert.equal(screen?.type, 'screen');
        assert.equal(screen.person_id, p.id);

        assert.equal(await person('t8-gone'), null, 'the delete op removed t8-gone');
    });

    it('batch with one invalid op resolves with the 207 body and stores the valid ops', async () => {
        const known = await rejectedIds();
        // 207 is 2xx: the client resolves with the parsed body instead of throwing.
        const answer = await client.batch([
            { type: 'person', identifiers: { id: 't8-partial' }, action: 'identify', attributes: { plan: 'ok' } },
            { type: 'person', identifiers: { id: 't8-partial' }, action: 'event', attributes: { a: 1 } },
        ]);
        assert.ok(Array.isArray(answer?.errors), `errors in ${JSON.stringify(answer)}`);
        assert.equal(answer.errors.length, 1, `one error in ${JSON.stringify(answer)}`);
        assert.equal(answer.errors[0].batch_index, 1);
        assert.match(String(answer.errors[0].field), /name/);
        assert.equal(typeof answer.errors[0].message, 'string');

        const p = await person('t8-partial');
        assert.ok(p, 'the valid identify op was stored');
        assert.equal(p.attributes.plan, 'ok');
        assert.deepEqual(await trackd.query(`SELECT id FROM events WHERE person_id = ${p.id}`), []);

        const rejected = await rejectedSince(known);
        assert.equal(rejected.length, 1, 'the invalid op is recorded');
        assert.match(rejected[0].endpoint, /batch/);
        assert.match(JSON.stringify(rejected[0].payload), /t8-partial/);
    });

    it('batch whose ops are all invalid rejects with 400', async () => {
        const known = await rejectedIds();
        await assert.rejects(
            client.batch([{ type: 'person', identifiers: { id: 't8-allbad' }, action: 'event' }]),
            requestError(400, (error) => {
                // The v2 error body has no `meta`, so the client's message is 'Unknown error';
                // the server's text is in error.body.
                const body = JSON.parse(error.body);
                assert.ok(Array.isArray(body.errors) && body.errors.length >= 1, error.body);
                assert.match(JSON.stringify(body.errors), /name/);
            })
        );
        assert.equal(await person('t8-allbad'), null);
        assert.ok((await rejectedSince(known)).length >= 1, 'the rejection is recorded');
    });

    it("entity identifies and adds a device (POST /api/v2/entity)", async () => {
        const token = `t8-entity-token-${crypto.randomBytes(6).toString('hex')}`;
        assert.deepEqual(
            await client.entity({
                type: 'person',
                identifiers: { id: 't8-entity' },
                action: 'identify',
                attributes: { plan: 'entity' },
            }),
            {}
        );
        const p = await person('t8-entity');
        assert.ok(p, 'person t8-entity exists');
        assert.equal(p.attributes.plan, 'entity');

        assert.deepEqual(
            await client.entity({
                type: 'person',
                identifiers: { id: 't8-entity' },
                action: 'add_device',
                device: { token, platform: 'android', attributes: { app_version: '3.1' } },
            }),
            {}
        );
        const [device, ...extra] = await devicesWithToken(token);
        assert.deepEqual(extra, []);
        assert.ok(device, 'the device is stored');
        assert.equal(device.person_id, p.id);
        assert.equal(device.platform, 'android');
        assert.equal(device.attributes.app_version, '3.1');
    });

    // ---- 9. delivery metrics -----------------------------------------------------------------

    it('trackPush and reportMetric land on the delivery they name, and only on one', async () => {
        // A sent push delivery of this workspace, as a rule would have made it.
        const publicId = (
            await trackd.exec(`
                WITH r AS (INSERT INTO rules (workspace_id, name, definition, trigger_event, trigger_type)
                           SELECT id, 't9-rule', '{}', 't9', 'event' FROM workspaces
                           WHERE site_id = ${lit(ws.site_id)}
                           RETURNING id, workspace_id),
                     f AS (INSERT INTO firings (workspace_id, rule_id, event_id)
                           SELECT workspace_id, id, -9 FROM r RETURNING id, workspace_id, rule_id)
                INSERT INTO deliveries (workspace_id, rule_id, firing_id, action, status, sent_at)
                SELECT workspace_id, rule_id, id, '{"type":"push"}', 'sent', now() - interval '1 minute'
                FROM f RETURNING public_id`)
        ).split('\n')[0];
        assert.match(publicId, /^[A-Za-z0-9_-]{22}$/);
        const metricRows = () =>
            trackd.query(`
                SELECT delivery_id, metric, device_token, href, repeats,
                       extract(epoch FROM occurred_at)::bigint AS occurred
                FROM delivery_metrics WHERE delivery_id = ${lit(publicId)} ORDER BY id`);

        const openedAt = Math.floor(Date.now() / 1000) - 10;
        assert.deepEqual(
            await client.trackPush({ delivery_id: publicId, event: 'opened', device_id: 't9-device-token', timestamp: openedAt }),
            {}
        );
        assert.deepEqual(await client.reportMetric({ delivery_id: publicId, metric: 'clicked', href: 'https://example.com/t9' }), {});
        // A second open is counted, not stored; a made-up id is answered and leaves nothing.
        assert.deepEqual(await client.trackPush({ delivery_id: publicId, event: 'opened', device_id: 't9-device-token' }), {});
        const madeUp = `t9-unknown-${crypto.randomBytes(6).toString('hex')}`;
        assert.deepEqual(await client.reportMetric({ delivery_id: madeUp, metric: 'clicked' }), {});

        const [push, metric, ...extra] = await metricRows();
        assert.deepEqual(extra, []);
        assert.equal(push.metric, 'opened');
        assert.equal(push.device_token, 't9-device-token');
        assert.equal(push.occurred, openedAt);
        assert.equal(push.repeats, 1);
        assert.equal(metric.metric, 'clicked');
        assert.equal(metric.href, 'https://example.com/t9');
        const [delivery] = await trackd.query(
            `SELECT extract(epoch FROM opened_at)::bigint AS opened, clicked_at IS NOT NULL AS clicked
             FROM deliveries WHERE public_id = ${lit(publicId)}`
        );
        assert.deepEqual(delivery, { opened: openedAt, clicked: true });
        assert.deepEqual(await trackd.query(`SELECT id FROM delivery_metrics WHERE delivery_id = ${lit(madeUp)}`), []);
    });

    // ---- 10. region --------------------------------------------------------------------------

    it('getAccountRegion answers region and a numeric environment_id', async () => {
        const answer = await client.getAccountRegion();
        assert.equal(typeof answer.region, 'string');
        assert.notEqual(answer.region, '');
        assert.equal(typeof answer.environment_id, 'number');
        const [workspace] = await trackd.query(
            `SELECT id, environment_id FROM workspaces WHERE site_id = ${lit(ws.site_id)}`
        );
        assert.equal(answer.environment_id, Number(workspace.environment_id));
        assert.notEqual(answer.environment_id, Number(workspace.id), 'not the internal id');
    });

    // ---- 11. error texts ---------------------------------------------------------------------
    // customerio-node validates none of these locally (only empty ids and empty names), so they
    // go out through the ordinary methods.

    it('identify with 301 attributes rejects 400 and is recorded', async () => {
        const known = await rejectedIds();
        const attributes = {};
        for (let i = 0; i < 301; i++) attributes[`attr_${i}`] = i;
        const expected = 'cannot identify more than 300 attributes in one request';
        await assert.rejects(
            client.identify('t11-many', attributes),
            requestError(400, (error) => {
                assert.ok(serverMessages(error).includes(expected), `"${expected}" in ${error.body}`);
                assert.ok(error.message.includes(expected), error.message);
            })
        );
        assert.equal(await person('t11-many'), null);
        const rejected = await rejectedSince(known);
        assert.equal(rejected.length, 1, 'one rejected_requests row');
        assert.match(rejected[0].endpoint, /customers/);
        assert.equal(rejected[0].workspace_id !== null, true);
    });

    it('track with a 101-byte event name rejects 400 and is recorded', async () => {
        const known = await rejectedIds();
        const expected = 'event name cannot be longer than 100 bytes';
        await assert.rejects(
            client.track('t11-longname', { name: 'n'.repeat(101) }),
            requestError(400, (error) => {
                assert.ok(serverMessages(error).includes(expected), `"${expected}" in ${error.body}`);
                assert.ok(error.message.includes(expected), error.message);
            })
        );
        assert.deepEqual(await eventsNamed('n'.repeat(101)), []);
        const rejected = await rejectedSince(known);
        assert.equal(rejected.length, 1, 'one rejected_requests row');
        assert.match(rejected[0].endpoint, /events/);

        // 100 bytes is still fine.
        assert.deepEqual(await client.track('t11-longname', { name: 'n'.repeat(100) }), {});
        assert.equal((await eventsNamed('n'.repeat(100))).length, 1);
    });

    it('track with data that is not an object rejects 400 and is recorded', async () => {
        const known = await rejectedIds();
        const prefix = 'event data must be a hash';
        await assert.rejects(
            client.track('t11-data', { name: 't11 bad data', data: 'str' }),
            requestError(400, (error) => {
                assert.ok(
                    serverMessages(error).some((m) => m.startsWith(prefix)),
                    `a message starting "${prefix}" in ${error.body}`
                );
            })
        );
        assert.deepEqual(await eventsNamed('t11 bad data'), []);
        const rejected = await rejectedSince(known);
        assert.equal(rejected.length, 1, 'one rejected_requests row');
        assert.match(JSON.stringify(rejected[0].payload), /t11 bad data/, 'the payload is kept');
    });

    // ---- 12. keys ----------------------------------------------------------------------------

    it('the write key does not open the Track API, nor the api key the Pipelines API', async () => {
        const withWriteKey = new TrackClient(ws.site_id, ws.write_key, { url: `${trackd.baseUrl}/api/v1` });
        await assert.rejects(
            withWriteKey.identify('t12-intruder', { plan: 'x' }),
            requestError(401, (error) => assert.equal(error.message, 'Unauthorized request'))
        );
        assert.equal(await person('t12-intruder'), null);

        const wrongKey = new TrackClient(ws.site_id, 'not-an-api-key', { url: `${trackd.baseUrl}/api/v1` });
        await assert.rejects(wrongKey.track('t12-intruder', { name: 't12 nope' }), requestError(401));
        assert.deepEqual(await eventsNamed('t12 nope'), []);

        const pipelinesWithApiKey = new PipelinesClient(ws.api_key, { url: `${trackd.baseUrl}/v1` });
        await assert.rejects(
            pipelinesWithApiKey.identify({ userId: 't12-pipelines', traits: { plan: 'x' } }),
            requestError(401)
        );
        assert.equal(await person('t12-pipelines'), null);
    });
});
