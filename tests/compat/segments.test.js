'use strict';
// Manual segments end to end: customerio-node's addCustomersToSegment and
// removeCustomersFromSegment (POST /api/v1/segments/{id}/add_customers and remove_customers,
// with id_type id, email or cio_id), checked against segment_members and admin_segment_sizes;
// Customer.io's limits refused naming the field; a rule on person.segments firing for a member
// and not for anyone else; delete and merge carrying memberships along.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { PipelinesClient, TrackClient } = require('customerio-node');
const { startTrackd } = require('./harness');
const { Receiver } = require('./receiver');

describe('manual segments', { timeout: 120_000 }, () => {
    let trackd;
    let receiver;
    let rulesDir;
    let client;
    let track;
    let auth;

    before(async () => {
        receiver = new Receiver();
        const base = await receiver.start();
        rulesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackd-segments-'));
        fs.writeFileSync(path.join(rulesDir, 'vip-offer.json'), JSON.stringify({
            name: 'vip-offer',
            trigger: { event: 'browsed' },
            conditions: [{ field: 'person.segments', op: 'contains', value: 42 }],
            action: { type: 'webhook', url: `${base}/hooks/vip`, body: { user: '{{ person.id }}' } },
        }));
        trackd = await startTrackd({ rules: [rulesDir] });
        client = new PipelinesClient(trackd.workspace.write_key, { url: `${trackd.baseUrl}/v1`, strictMode: true });
        track = new TrackClient(trackd.workspace.site_id, trackd.workspace.api_key, { url: `${trackd.baseUrl}/api/v1` });
        auth = `Basic ${Buffer.from(`${trackd.workspace.site_id}:${trackd.workspace.api_key}`).toString('base64')}`;
    });

    after(async () => {
        await trackd?.stop();
        await receiver?.stop();
        fs.rmSync(rulesDir, { recursive: true, force: true });
    });

    const members = async (segment) =>
        (await trackd.query(
            `SELECT p.customer_id FROM segment_members m JOIN people p ON p.id = m.person_id
              WHERE m.segment_id = ${segment} ORDER BY p.customer_id`,
        )).map((r) => r.customer_id);
    const post = (segment, action, body, query = '') =>
        fetch(`${trackd.baseUrl}/api/v1/segments/${segment}/${action}${query}`, {
            method: 'POST',
            headers: { Authorization: auth, 'Content-Type': 'application/json' },
            body: typeof body === 'string' ? body : JSON.stringify(body),
        });

    it('adds and removes people by id, email and cio_id, ignoring ids that name nobody', async () => {
        for (const [userId, email] of [['u1', 'u1@example.com'], ['u2', 'u2@example.com'], ['u3', 'U3@Example.com'], ['u4', null], ['u5', null]]) {
            await track.identify(userId, email ? { email } : { plan: 'free' });
        }
        await track.addCustomersToSegment(42, ['u1', 'u2', 'nobody', '  ']);
        assert.deepEqual(await members(42), ['u1', 'u2']);
        await track.addCustomersToSegment(42, ['u3@example.COM', 'u1', 'not-an-email'], 'email');
        assert.deepEqual(await members(42), ['u1', 'u2', 'u3']);
        const [{ cio_id: cio4 }] = await trackd.query(`SELECT cio_id FROM people WHERE customer_id = 'u4'`);
        const [{ cio_id: cio5 }] = await trackd.query(`SELECT cio_id FROM people WHERE customer_id = 'u5'`);
        await track.addCustomersToSegment(42, [cio4, `cio_${cio5}`], 'cio_id');
        assert.deepEqual(await members(42), ['u1', 'u2', 'u3', 'u4', 'u5']);
        await track.removeCustomersFromSegment(42, ['u2', 'u5']);
        await track.removeCustomersFromSegment(42, ['u3@example.com'], 'email');
        assert.deepEqual(await members(42), ['u1', 'u4']);
        // Numbers are ids too (customerio-node's types allow them).
        await track.identify('12345', { plan: 'free' });
        await track.addCustomersToSegment('7', [12345]);
        assert.deepEqual(await members(7), ['12345']);
        // Removing from a segment nobody added to is harmless.
        await track.removeCustomersFromSegment(99, ['u1']);
        const sizes = await trackd.query(`SELECT segment_id, members FROM admin_segment_sizes ORDER BY segment_id`);
        assert.deepEqual(sizes.map((r) => [r.segment_id, Number(r.members)]), [[7, 1], [42, 2]]);
    });

    it('refuses what Customer.io refuses, naming the field', async () => {
        const cases = [
            ['abc', 'add_customers', { ids: ['u1'] }, '', /segment_id/],
            ['0', 'add_customers', { ids: ['u1'] }, '', /segment_id/],
            ['2147483648', 'add_customers', { ids: ['u1'] }, '', /segment_id/],
            ['42', 'add_customers', { ids: [] }, '', /ids is required/],
            ['42', 'add_customers', {}, '', /ids is required/],
            ['42', 'add_customers', { ids: Array.from({ length: 1001 }, (_, i) => `x${i}`) }, '', /1 to 1000/],
            ['42', 'add_customers', { ids: ['u1', { id: 'u2' }] }, '', /ids\[1\]/],
            ['42', 'add_customers', { ids: ['u1'] }, '?id_type=phone', /id_type/],
            ['42', 'remove_customers', { ids: [true] }, '', /ids\[0\]/],
        ];
        for (const [segment, action, body, query, message] of cases) {
            const response = await post(segment, action, body, query);
            assert.equal(response.status, 400, `${segment}/${action}${query}`);
            const json = await response.json();
            assert.match(json.meta.error ?? json.meta.errors.join(' '), message);
        }
        assert.deepEqual(await members(42), ['u1', 'u4'], 'nothing changed');
        // customerio-node shows the refusal as its error.
        await assert.rejects(track.addCustomersToSegment(42, Array.from({ length: 1001 }, (_, i) => `y${i}`)), /1 to 1000/);
        const anonymous = await fetch(`${trackd.baseUrl}/api/v1/segments/42/add_customers`, {
            method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"ids":["u1"]}',
        });
        assert.equal(anonymous.status, 401);
    });

    it('a rule on person.segments fires for a member and not for anyone else', async () => {
        await client.track({ userId: 'u1', event: 'browsed', properties: {} });
        await client.track({ userId: 'u2', event: 'browsed', properties: {} });
        await receiver.waitFor(async () => receiver.to('/hooks/vip').length >= 1, 15_000, 'the vip webhook');
        await new Promise((r) => setTimeout(r, 1500)); // the other event has been evaluated by now
        assert.deepEqual(receiver.to('/hooks/vip').map((r) => r.body.user), ['u1']);
        const [u2] = await trackd.query(
            `SELECT count(*) AS n FROM firings f JOIN people p ON p.id = f.person_id WHERE p.customer_id = 'u2'`,
        );
        assert.equal(Number(u2.n), 0);
    });

    it('a merge carries memberships to the primary; a delete leaves every segment', async () => {
        await track.identify('u6', { plan: 'free' });
        await track.addCustomersToSegment(7, ['u6']);
        await track.mergeCustomers('id', 'u1', 'id', 'u6');
        assert.deepEqual(await members(7), ['12345', 'u1']);
        await track.destroy('u1');
        assert.deepEqual(await members(7), ['12345']);
        assert.deepEqual(await members(42), ['u4']);
    });
});
