'use strict';
// customerio-node's PipelinesClient, unmodified, pointed at trackd: one POST per call to
// /v1/identify|track|page|screen|group|alias|batch with Basic auth "writeKey:" and, in strict mode,
// `X-Strict-Mode: 1`. Each test asserts the rows trackd committed.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { PipelinesClient, CustomerIORequestError, MissingParamError } = require('customerio-node');
const { startTrackd } = require('./harness');

const SUITE_TIMEOUT_MS = 90_000;

describe('customerio-node PipelinesClient against trackd', { timeout: SUITE_TIMEOUT_MS }, () => {
    let trackd;
    let client;

    before(async () => {
        trackd = await startTrackd();
        client = new PipelinesClient(trackd.workspace.write_key, {
            url: `${trackd.baseUrl}/v1`,
            strictMode: true,
        });
    });

    after(async () => {
        if (trackd) await trackd.stop();
    });

    async function personId(customerId) {
        const rows = await trackd.query(`SELECT id FROM people WHERE customer_id = '${customerId}'`);
        assert.equal(rows.length, 1, `one person ${customerId}`);
        return rows[0].id;
    }

    async function eventsNamed(name) {
        return trackd.query(`
            SELECT type, name, person_id, anonymous_id, message_id, properties, origin
            FROM events WHERE name = '${name}' ORDER BY id`);
    }

    async function rejectedIds() {
        const rows = await trackd.query('SELECT id FROM rejected_requests');
        return new Set(rows.map((r) => r.id));
    }

    async function rejectedSince(known) {
        const rows = await trackd.query('SELECT * FROM rejected_requests');
        return rows.filter((r) => !known.has(r.id));
    }

    // The contract names `reason` and `payload`; the field may be named in `reason` or in a column
    // beside it (such as a human-readable message), so look at every column but the payload.
    function assertNamesField(row, field) {
        assert.equal(typeof row.reason, 'string');
        assert.notEqual(row.reason, '', 'a reason is recorded');
        const { payload: _payload, ...described } = row;
        assert.match(JSON.stringify(described), new RegExp(field), `the record names "${field}"`);
    }

    it('answers {} to every call type and stores people and events', async () => {
        const orderId = crypto.randomUUID();
        const answers = [
            await client.identify({ userId: 'p1', traits: { email: 'p1@example.com', plan: 'pro' } }),
            await client.track({
                userId: 'p1',
                event: 'Order Completed',
                properties: { total: 5 },
                messageId: orderId,
            }),
            await client.track({ anonymousId: 'anon-p', event: 'Anon Viewed' }),
            await client.page({ userId: 'p1', name: 'Home', properties: { url: 'https://x' } }),
            await client.screen({ userId: 'p1', name: 'Main' }),
            await client.group({ userId: 'p1', groupId: 'g1', traits: { name: 'Acme' } }),
        ];
        for (const answer of answers) assert.deepEqual(answer, {});

        const [person] = await trackd.query(
            `SELECT id, email, attributes->>'plan' AS plan FROM people WHERE customer_id = 'p1'`
        );
        assert.ok(person, 'person p1 exists');
        assert.equal(person.email, 'p1@example.com');
        assert.equal(person.plan, 'pro');

        const [order, ...extraOrders] = await eventsNamed('Order Completed');
        assert.deepEqual(extraOrders, []);
        assert.equal(order.type, 'event');
        assert.equal(order.person_id, person.id);
        assert.equal(String(order.properties.total), '5');
        assert.equal(order.message_id, orderId, 'the messageId sent is the one stored');
        assert.equal(order.origin, 'direct');

        const [anon] = await eventsNamed('Anon Viewed');
        assert.equal(anon.type, 'event');
        assert.equal(anon.person_id, null);
        assert.equal(anon.anonymous_id, 'anon-p');

        const [home] = await eventsNamed('Home');
        assert.equal(home.type, 'page');
        assert.equal(home.person_id, person.id);
        assert.equal(home.properties.url, 'https://x');

        const [main] = await eventsNamed('Main');
        assert.equal(main.type, 'screen');
        assert.equal(main.person_id, person.id);

        for (const e of [order, anon, home, main]) {
            assert.ok(e.message_id, `${e.name} has a message_id`);
        }
    });

    it('alias links the earlier anonymous events to the person', async () => {
        await client.identify({ userId: 'p-alias', traits: { email: 'alias@example.com' } });
        await client.track({ anonymousId: 'anon-alias', event: 'Viewed Before Alias' });
        assert.deepEqual(
            (await eventsNamed('Viewed Before Alias')).map((e) => e.person_id),
            [null],
            'stored anonymous first'
        );

        assert.deepEqual(await client.alias({ userId: 'p-alias', previousId: 'anon-alias' }), {});

        const id = await personId('p-alias');
        assert.deepEqual((await eventsNamed('Viewed Before Alias')).map((e) => e.person_id), [id]);
        const links = await trackd.query(
            `SELECT person_id FROM anonymous_ids WHERE anonymous_id = 'anon-alias'`
        );
        assert.deepEqual(links, [{ person_id: id }]);
    });

    it('stores every item of a batch', async () => {
        const trackId = crypto.randomUUID();
        const answer = await client.batch([
            { type: 'identify', userId: 'p2', traits: { email: 'p2@example.com', tier: 'gold' } },
            { type: 'track', userId: 'p2', event: 'Batched', properties: { n: 1 }, messageId: trackId },
            { type: 'page', userId: 'p2', name: 'Pricing' },
            { type: 'screen', userId: 'p2', name: 'Settings' },
        ]);
        assert.deepEqual(answer, {});

        const [person] = await trackd.query(
            `SELECT id, email, attributes->>'tier' AS tier FROM people WHERE customer_id = 'p2'`
        );
        assert.ok(person, 'person p2 exists');
        assert.equal(person.email, 'p2@example.com');
        assert.equal(person.tier, 'gold');

        const [batched] = await eventsNamed('Batched');
        assert.equal(batched.type, 'event');
        assert.equal(batched.person_id, person.id);
        assert.equal(batched.message_id, trackId);
        assert.equal(String(batched.properties.n), '1');
        const [pricing] = await eventsNamed('Pricing');
        assert.equal(pricing.type, 'page');
        assert.equal(pricing.person_id, person.id);
        const [settings] = await eventsNamed('Settings');
        assert.equal(settings.type, 'screen');
        assert.equal(settings.person_id, person.id);
    });

    it('stores a call sent twice with the same messageId once', async () => {
        const call = { userId: 'p1', event: 'Sent Twice', messageId: crypto.randomUUID() };
        assert.deepEqual(await client.track(call), {});
        assert.deepEqual(await client.track(call), {}, 'the repeat is answered 2xx too');
        const rows = await eventsNamed('Sent Twice');
        assert.equal(rows.length, 1, 'one event row');
        assert.equal(rows[0].message_id, call.messageId);

        // The same key inside a batch is a duplicate as well.
        assert.deepEqual(await client.batch([{ type: 'track', ...call }]), {});
        assert.equal((await eventsNamed('Sent Twice')).length, 1);
    });

    it('rejects a track without event with 400 naming the field, and records it', async () => {
        // The client refuses to send such a call itself...
        assert.throws(() => client.track({ userId: 'p-invalid' }), MissingParamError);
        // ...so it goes out through the client's own transport and envelope, as an older or
        // another client would send it.
        const known = await rejectedIds();
        await assert.rejects(
            client.request.post(`${client.pipelinesRoot}/track`, client.envelope({ userId: 'p-invalid' })),
            (error) => {
                assert.ok(error instanceof CustomerIORequestError, `got ${error}`);
                assert.equal(error.statusCode, 400);
                assert.match(error.message, /event/);
                return true;
            }
        );

        const rejected = await rejectedSince(known);
        assert.equal(rejected.length, 1, 'one rejected_requests row');
        assert.match(rejected[0].endpoint, /track/);
        assertNamesField(rejected[0], 'event');
        assert.match(JSON.stringify(rejected[0].payload), /p-invalid/, 'the payload is kept');
        assert.deepEqual(await trackd.query(`SELECT id FROM people WHERE customer_id = 'p-invalid'`), []);
    });

    it('answers 207 for a batch with an invalid item, storing the valid ones', async () => {
        const known = await rejectedIds();
        const answer = await client.batch([
            { type: 'track', userId: 'p3', event: 'Valid In Batch' },
            { type: 'track', userId: 'p3' },
        ]);
        assert.equal(answer.errors?.length, 1, `one error in ${JSON.stringify(answer)}`);
        assert.equal(answer.errors[0].batch_index, 1);
        assert.match(String(answer.errors[0].field), /event/);

        assert.equal((await eventsNamed('Valid In Batch')).length, 1);
        const rejected = await rejectedSince(known);
        assert.equal(rejected.length, 1, 'the invalid item is recorded');
        assertNamesField(rejected[0], 'event');
    });

    it('answers 400 for a batch whose items are all invalid', async () => {
        await assert.rejects(client.batch([{ type: 'track', userId: 'p4' }]), (error) => {
            assert.ok(error instanceof CustomerIORequestError, `got ${error}`);
            assert.equal(error.statusCode, 400);
            return true;
        });
        assert.deepEqual(await trackd.query(`SELECT id FROM events WHERE person_id IN
            (SELECT id FROM people WHERE customer_id = 'p4')`), []);
    });

    it('answers 401 to a wrong write key', async () => {
        const intruder = new PipelinesClient('not-a-write-key', {
            url: `${trackd.baseUrl}/v1`,
            strictMode: true,
        });
        await assert.rejects(intruder.track({ userId: 'intruder', event: 'Nope' }), (error) => {
            assert.ok(error instanceof CustomerIORequestError, `got ${error}`);
            assert.equal(error.statusCode, 401);
            assert.equal(error.message, 'Unauthorized request');
            return true;
        });
        assert.deepEqual(await eventsNamed('Nope'), []);
    });
});
