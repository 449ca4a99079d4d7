'use strict';
// The Data Pipelines semantic events about objects, through customerio-node's PipelinesClient:
// `Relationship Deleted` removes a person's (or an anonymous id's) relationship made by a
// group call and leaves the object; `Object Deleted` removes the object with every
// relationship to it; neither is stored as an ordinary event; a bad one is refused naming
// the field.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { PipelinesClient } = require('customerio-node');
const { startTrackd } = require('./harness');

describe('Pipelines object events', { timeout: 60_000 }, () => {
    let trackd;
    let client;

    before(async () => {
        trackd = await startTrackd();
        client = new PipelinesClient(trackd.workspace.write_key, { url: `${trackd.baseUrl}/v1`, strictMode: true });
    });
    after(async () => trackd?.stop());

    const relationships = async () =>
        (await trackd.query(
            `SELECT coalesce(p.customer_id, r.anonymous_id) AS who, r.object_type_id, r.object_id
               FROM relationships r LEFT JOIN people p ON p.id = r.person_id ORDER BY 1, 2, 3`,
        )).map((r) => `${r.who}:${r.object_type_id}:${r.object_id}`);
    const objects = async () =>
        (await trackd.query(`SELECT object_type_id, object_id FROM objects ORDER BY 1, 2`)).map((r) => `${r.object_type_id}:${r.object_id}`);

    it('Relationship Deleted and Object Deleted remove what group calls made', async () => {
        await client.group({ userId: 'ann', groupId: 'acme', traits: { name: 'Acme' } });
        await client.group({ userId: 'ann', groupId: 'globex', traits: { object_type_id: '2' } });
        await client.group({ userId: 'bob', groupId: 'acme', traits: {} });
        await client.group({ anonymousId: 'anon-1', groupId: 'acme', traits: {} });
        assert.deepEqual(await relationships(), ['ann:1:acme', 'ann:2:globex', 'anon-1:1:acme', 'bob:1:acme']);

        await client.track({ userId: 'ann', event: 'Relationship Deleted', properties: { objectId: 'globex', objectTypeId: 2 } });
        await client.track({ anonymousId: 'anon-1', event: 'Relationship Deleted', properties: { objectId: 'acme' } });
        // Nothing to delete: answered 200, nothing changes.
        await client.track({ userId: 'nobody', event: 'Relationship Deleted', properties: { objectId: 'acme' } });
        assert.deepEqual(await relationships(), ['ann:1:acme', 'bob:1:acme']);
        assert.deepEqual(await objects(), ['1:acme', '2:globex'], 'the objects stay');

        await client.track({ userId: 'ann', event: 'Object Deleted', properties: { objectId: 'acme', objectTypeId: '1' } });
        assert.deepEqual(await relationships(), []);
        assert.deepEqual(await objects(), ['2:globex']);
        const [stored] = await trackd.query(`SELECT count(*) AS n FROM events WHERE name IN ('Relationship Deleted', 'Object Deleted')`);
        assert.equal(Number(stored.n), 0, 'not stored as ordinary events');
    });

    it('refuses an object event without its object, naming the field', async () => {
        for (const [properties, field] of [[{}, /properties\.objectId/], [{ objectId: 'x', objectTypeId: 0 }, /objectTypeId/], [{ objectId: 'x', objectTypeId: 'two' }, /objectTypeId/]]) {
            const response = await fetch(`${trackd.baseUrl}/v1/track`, {
                method: 'POST',
                headers: {
                    Authorization: `Basic ${Buffer.from(`${trackd.workspace.write_key}:`).toString('base64')}`,
                    'Content-Type': 'application/json',
                },
                body: JSON.stringify({ userId: 'ann', event: 'Object Deleted', properties }),
            });
            assert.equal(response.status, 400);
            assert.match(await response.text(), field);
        }
    });
});
