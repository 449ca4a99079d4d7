'use strict';
// Objects and relationships through the Track API, driven by customerio-node's TrackClient
// (entity and batch for v2, identify for v1) and raw HTTP, asserting rows: v2 object identify,
// identify_anonymous, delete, add_relationships and delete_relationships; person
// add_relationships and delete_relationships with relationship attributes; identify's
// cio_relationships (v1 and v2); a mixed batch answering 207 with an item naming each refused
// operation; _timestamp ordering; dotted cio_subscription_preferences keys; delete person; and a
// rule reading person.objects.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { TrackClient } = require('customerio-node');
const { startTrackd } = require('./harness');
const { Receiver } = require('./receiver');

describe('Track API objects and relationships', { timeout: 120_000 }, () => {
    let trackd;
    let receiver;
    let rulesDir;
    let track;
    let auth;

    before(async () => {
        receiver = new Receiver();
        const base = await receiver.start();
        rulesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackd-objects-'));
        fs.writeFileSync(path.join(rulesDir, 'enterprise-welcome.json'), JSON.stringify({
            name: 'enterprise-welcome',
            trigger: { event: 'logged_in' },
            conditions: [
                { field: 'person.objects.1.plan', op: 'eq', value: 'enterprise' },
                { field: 'person.object_ids.1', op: 'contains', value: 'acme' },
            ],
            action: {
                type: 'webhook',
                url: `${base}/hooks/enterprise`,
                body: {
                    user: '{{ person.id }}',
                    company: '{{ person.objects.1.name }}',
                    role: '{{ person.objects.1.relationship.role }}',
                },
            },
        }));
        trackd = await startTrackd({ rules: [rulesDir] });
        track = new TrackClient(trackd.workspace.site_id, trackd.workspace.api_key, { url: `${trackd.baseUrl}/api/v1` });
        auth = `Basic ${Buffer.from(`${trackd.workspace.site_id}:${trackd.workspace.api_key}`).toString('base64')}`;
    });

    after(async () => {
        await trackd?.stop();
        await receiver?.stop();
        fs.rmSync(rulesDir, { recursive: true, force: true });
    });

    const post = (route, body) =>
        fetch(`${trackd.baseUrl}${route}`, {
            method: 'POST',
            headers: { Authorization: auth, 'Content-Type': 'application/json' },
            body: typeof body === 'string' ? body : JSON.stringify(body),
        });
    const relationships = async () =>
        (await trackd.query(
            `SELECT coalesce(p.customer_id, p.email, 'anon:' || r.anonymous_id) AS who, r.object_type_id,
                    r.object_id, r.attributes
               FROM relationships r LEFT JOIN people p ON p.id = r.person_id ORDER BY 1, 2, 3`,
        )).map((r) => `${r.who}:${r.object_type_id}:${r.object_id}${Object.keys(r.attributes).length ? JSON.stringify(r.attributes) : ''}`);
    const object = async (type, id) =>
        (await trackd.query(`SELECT * FROM objects WHERE object_type_id = '${type}' AND object_id = '${id}'`))[0];
    const person = async (id) => (await trackd.query(`SELECT * FROM people WHERE customer_id = '${id}'`))[0];

    it('object identify creates and updates an object and relates people', async () => {
        await track.identify('ann', { email: 'ann@example.com' });
        const { cio_id: annCio } = await person('ann');
        await track.entity({
            type: 'object',
            action: 'identify',
            identifiers: { object_type_id: '1', object_id: 'acme' },
            attributes: { name: 'Acme', plan: 'startup', employees: 12 },
            cio_relationships: [
                { identifiers: { id: 'bob' }, relationship_attributes: { role: 'admin' } },
                { identifiers: { email: 'ANN@example.com' } },
                { identifiers: { cio_id: 'nobody-has-this' } },
            ],
        });
        const acme = await object('1', 'acme');
        assert.deepEqual(acme.attributes, { name: 'Acme', plan: 'startup', employees: 12 });
        assert.match(acme.cio_object_id, /^[0-9a-f]{20}$/);
        assert.ok(await person('bob'), 'a person named by id is created, as events do');
        assert.deepEqual(await relationships(), ['ann:1:acme', 'bob:1:acme{"role":"admin"}']);

        // By cio_object_id: updates (null removes an attribute); relates by cio_id.
        await track.entity({
            type: 'object',
            action: 'identify',
            identifiers: { cio_object_id: acme.cio_object_id },
            attributes: { plan: 'enterprise', employees: null },
            cio_relationships: [{ identifiers: { cio_id: annCio }, relationship_attributes: { role: 'owner' } }],
        });
        assert.deepEqual((await object('1', 'acme')).attributes, { name: 'Acme', plan: 'enterprise' });
        assert.deepEqual(await relationships(), ['ann:1:acme{"role":"owner"}', 'bob:1:acme{"role":"admin"}']);

        // An unknown cio_object_id creates nothing.
        await track.entity({ type: 'object', action: 'identify', identifiers: { cio_object_id: 'ffffffffffffffffffff' }, attributes: { x: 1 } });
        const [count] = await trackd.query(`SELECT count(*) AS n FROM objects`);
        assert.equal(Number(count.n), 1);
    });

    it('identify_anonymous relationships wait for the anonymous id, then move to the person', async () => {
        await track.entity({
            type: 'object',
            action: 'identify_anonymous',
            identifiers: { object_type_id: '2', object_id: 'course-101' },
            attributes: { title: 'Intro' },
            cio_relationships: [{ identifiers: { anonymous_id: 'anon-7' }, relationship_attributes: { seat: 3 } }],
        });
        assert.ok((await relationships()).includes('anon:anon-7:2:course-101{"seat":3}'));
        await track.identify('cat', { anonymous_id: 'anon-7' });
        assert.ok((await relationships()).includes('cat:2:course-101{"seat":3}'));
        assert.ok(!(await relationships()).some((r) => r.startsWith('anon:')));
    });

    it('add_relationships and delete_relationships work from the object and from the person', async () => {
        await track.entity({
            type: 'object',
            action: 'add_relationships',
            identifiers: { object_type_id: '1', object_id: 'globex' },
            cio_relationships: [{ identifiers: { id: 'dan' } }, { identifiers: { id: 'eve' }, relationship_attributes: { role: 'user', team: 'x' } }],
        });
        assert.ok(await object('1', 'globex'), 'adding to an object by type and id creates it');
        await track.entity({
            type: 'person',
            action: 'add_relationships',
            identifiers: { id: 'eve' },
            cio_relationships: [
                // "" and null remove relationship attributes; others merge.
                { identifiers: { object_type_id: '1', object_id: 'globex' }, relationship_attributes: { role: 'admin', team: '' } },
                { identifiers: { object_type_id: 3, object_id: 77 } },
            ],
        });
        const rows = await relationships();
        assert.ok(rows.includes('eve:1:globex{"role":"admin"}'), rows.join(' '));
        assert.ok(rows.includes('eve:3:77'));
        assert.ok(rows.includes('dan:1:globex'));

        await track.entity({
            type: 'person',
            action: 'delete_relationships',
            identifiers: { id: 'eve' },
            cio_relationships: [{ identifiers: { cio_object_id: (await object('3', '77')).cio_object_id } }],
        });
        await track.entity({
            type: 'object',
            action: 'delete_relationships',
            identifiers: { object_type_id: '1', object_id: 'globex' },
            cio_relationships: [{ identifiers: { id: 'dan' } }, { identifiers: { id: 'never-seen' } }],
        });
        const after = await relationships();
        assert.ok(!after.some((r) => r.startsWith('dan:') || r.startsWith('eve:3:')), after.join(' '));
        assert.ok(after.includes('eve:1:globex{"role":"admin"}'));
        assert.equal(await person('never-seen'), undefined, 'deleting never creates anyone');
        assert.ok(await object('3', '77'), 'the object stays');
    });

    it('v1 identify carries cio_relationships, adding and deleting', async () => {
        await track.identify('fay', {
            plan: 'pro',
            cio_relationships: {
                action: 'add_relationships',
                relationships: [
                    { identifiers: { object_type_id: '1', object_id: 'acme' }, relationship_attributes: { role: 'viewer' } },
                    { identifiers: { object_type_id: '1', object_id: 'initech' } },
                ],
            },
        });
        const fay = await person('fay');
        assert.deepEqual(fay.attributes, { plan: 'pro' }, 'cio_relationships is not an attribute');
        assert.ok((await relationships()).includes('fay:1:acme{"role":"viewer"}'));
        await track.identify('fay', {
            cio_relationships: { action: 'delete_relationships', relationships: [{ identifiers: { object_type_id: '1', object_id: 'initech' } }] },
        });
        assert.deepEqual((await relationships()).filter((r) => r.startsWith('fay:')), ['fay:1:acme{"role":"viewer"}']);
        // v2 identify's cio_relationships adds.
        await track.entity({
            type: 'person',
            action: 'identify',
            identifiers: { id: 'fay' },
            cio_relationships: [{ identifiers: { object_type_id: '1', object_id: 'initech' } }],
        });
        assert.deepEqual((await relationships()).filter((r) => r.startsWith('fay:')), ['fay:1:acme{"role":"viewer"}', 'fay:1:initech']);
    });

    it('object delete removes the object and every relationship to it', async () => {
        const { cio_object_id: initech } = await object('1', 'initech');
        await track.entity({ type: 'object', action: 'delete', identifiers: { cio_object_id: initech } });
        await track.entity({ type: 'object', action: 'delete', identifiers: { object_type_id: '2', object_id: 'course-101' } });
        assert.equal(await object('1', 'initech'), undefined);
        assert.equal(await object('2', 'course-101'), undefined);
        assert.ok(!(await relationships()).some((r) => r.includes(':initech') || r.includes(':course-101')));
    });

    it('a mixed batch answers 207 with an item naming each refused operation; the rest land', async () => {
        const response = await post('/api/v2/batch', {
            batch: [
                { type: 'object', action: 'identify', identifiers: { object_type_id: '4', object_id: 'hooli' }, attributes: { size: 'big' } },
                { type: 'object', action: 'fly', identifiers: { object_type_id: '4', object_id: 'hooli' } },
                { type: 'object', action: 'identify', identifiers: { object_id: 'no-type' } },
                { type: 'person', action: 'add_relationships', identifiers: { id: 'gus' } },
                { type: 'object', action: 'add_relationships', identifiers: { object_type_id: '4', object_id: 'hooli' }, cio_relationships: [{ identifiers: { id: 'gus' } }] },
                { type: 'object', action: 'identify_anonymous', identifiers: { object_type_id: '4', object_id: 'hooli' }, cio_relationships: [{ identifiers: { id: 'gus' } }] },
            ],
        });
        assert.equal(response.status, 207);
        const { errors } = await response.json();
        assert.deepEqual(errors.map((e) => [e.batch_index, e.field]), [
            [1, 'action'],
            [2, 'identifiers'],
            [3, 'cio_relationships'],
            [5, 'cio_relationships.0.identifiers'],
        ]);
        assert.match(errors[0].message, /for an object/);
        assert.ok(errors.every((e) => e.reason && e.message));
        assert.ok(await object('4', 'hooli'));
        assert.ok((await relationships()).includes('gus:4:hooli'));
        // customerio-node resolves on 207; the refused items are kept in rejected_requests.
        await track.batch([{ type: 'object', action: 'delete', identifiers: {} }]).catch(() => {});
        const [rejected] = await trackd.query(`SELECT count(*) AS n FROM rejected_requests WHERE endpoint LIKE '%/v2/%'`);
        assert.ok(Number(rejected.n) >= 4);
    });

    it('an identify with an older _timestamp never overwrites a newer value', async () => {
        await track.identify('hal', { plan: 'pro', _timestamp: 1_800_000_000 });
        await track.identify('hal', { plan: 'free', seats: 5, _timestamp: 1_700_000_000 });
        assert.deepEqual((await person('hal')).attributes, { plan: 'pro', seats: 5 }, 'only the newer plan stays; seats was never set');
        await track.identify('hal', { plan: null, _timestamp: 1_750_000_000 });
        assert.equal((await person('hal')).attributes.plan, 'pro', 'an older removal is ignored too');
        // v2's timestamp does the same; an update without one is the newest there is.
        await track.entity({ type: 'person', action: 'identify', identifiers: { id: 'hal' }, timestamp: 1_600_000_000, attributes: { seats: 1 } });
        assert.equal((await person('hal')).attributes.seats, 5);
        // An update without a timestamp always applies, stamped with its arrival: a timed one
        // from before that arrival (June 2026) then loses.
        await track.identify('hal', { plan: 'team' });
        assert.equal((await person('hal')).attributes.plan, 'team');
        await track.identify('hal', { plan: 'free', _timestamp: 1_780_000_000 });
        assert.equal((await person('hal')).attributes.plan, 'team', 'an untimed update is stamped with its arrival');
    });

    it('dotted cio_subscription_preferences keys merge into the nested object', async () => {
        await track.identify('ivy', { cio_subscription_preferences: { topics: { topic_1: true, topic_2: true } } });
        await track.identify('ivy', { 'cio_subscription_preferences.topics.topic_2': false, 'cio_subscription_preferences.topics.topic_3': true });
        assert.deepEqual((await person('ivy')).attributes, {
            cio_subscription_preferences: { topics: { topic_1: true, topic_2: false, topic_3: true } },
        });
        await track.entity({ type: 'person', action: 'identify', identifiers: { id: 'ivy' }, attributes: { 'cio_subscription_preferences.topics.topic_1': null } });
        assert.deepEqual((await person('ivy')).attributes.cio_subscription_preferences, { topics: { topic_2: false, topic_3: true } });
        // A new person's dotted keys make the object; other dotted names are plain attributes.
        await track.identify('jon', { 'cio_subscription_preferences.topics.topic_9': true, 'a.b': 1 });
        assert.deepEqual((await person('jon')).attributes, { cio_subscription_preferences: { topics: { topic_9: true } }, 'a.b': 1 });
    });

    it('a rule reads the related object and relationship; delete person removes relationships and memberships', async () => {
        // ann is related to acme (plan enterprise, role owner); bob to acme too, but acme is
        // not the newest object of type 1 for kim.
        await track.entity({ type: 'object', action: 'identify', identifiers: { object_type_id: '1', object_id: 'small-co' }, attributes: { plan: 'startup', name: 'Small' } });
        await track.entity({
            type: 'person', action: 'add_relationships', identifiers: { id: 'kim' },
            cio_relationships: [{ identifiers: { object_type_id: '1', object_id: 'small-co' } }],
        });
        await track.track('ann', { name: 'logged_in', data: {} });
        await track.track('kim', { name: 'logged_in', data: {} });
        await receiver.waitFor(async () => receiver.to('/hooks/enterprise').length >= 1, 15_000, 'the enterprise webhook');
        await new Promise((r) => setTimeout(r, 1500));
        assert.deepEqual(receiver.to('/hooks/enterprise').map((r) => r.body), [{ user: 'ann', company: 'Acme', role: 'owner' }]);

        await track.addCustomersToSegment(5, ['ann']);
        await track.destroy('ann');
        const [left] = await trackd.query(
            `SELECT (SELECT count(*) FROM relationships r JOIN people p ON p.id = r.person_id WHERE p.customer_id = 'ann') AS r,
                    (SELECT count(*) FROM segment_members) AS m`,
        );
        assert.deepEqual([Number(left.r), Number(left.m)], [0, 0]);
        assert.ok(await object('1', 'acme'), 'the object stays');
    });
});
