'use strict';
// Isolation and secrets (issue 7, item 8). Two workspaces, A ("compat") and B ("other"): every
// Pipelines, Track v1 and Track v2 path called with A's keys about people, devices, anonymous
// ids and deliveries that exist only in B changes nothing of B (its rows are compared before and
// after), B's rules do not fire on A's events, and mixed credentials are refused. The same server
// runs with TRACKD_LOG_LEVEL=debug, an FCM token and a DATABASE_URL carrying a password: none of
// the keys, the token or the password may appear in anything it prints (or in /metrics).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { startTrackd, withDatabase, REPO_ROOT } = require('./harness');
const { Receiver } = require('./receiver');
const { sleep, basic, call, waitFor } = require('./load');

const TRACKD_BIN = process.env.TRACKD_BIN || path.join(REPO_ROOT, 'build', 'trackd');
const FCM_TOKEN = `fcm-secret-${crypto.randomBytes(8).toString('hex')}`;
const DB_PASSWORD = `pw-secret-${crypto.randomBytes(8).toString('hex')}`;

// The test database URL with a password added (the test cluster trusts local connections, so
// the password is never checked): postgresql://user@... becomes postgresql://user:PW@...; a URL
// that has a password already keeps it, and that one is the secret then. Null when neither works.
function withPassword(url) {
    const uri = /^(postgres(?:ql)?:\/\/)([^:@/?#]+)(:[^@/?#]*)?@/.exec(url);
    if (!uri) return null;
    if (uri[3]) return { url, password: decodeURIComponent(uri[3].slice(1)) };
    return { url: url.replace(uri[0], `${uri[1]}${uri[2]}:${DB_PASSWORD}@`), password: DB_PASSWORD };
}

// Runs trackd with `env` added; resolves with {code, output} (stdout and stderr), never rejects.
function runTrackd(args, env) {
    return new Promise((resolve) => {
        execFile(TRACKD_BIN, args, { env: { ...process.env, ...env }, timeout: 30_000 }, (error, stdout, stderr) => {
            resolve({ code: error ? error.code : 0, output: `${stdout}\n${stderr}` });
        });
    });
}

describe('workspace isolation and secrets', { timeout: 120_000 }, () => {
    let trackd;
    let receiver;
    let rulesA;
    let rulesB;
    let secretUrl; // {url, password} or null
    let A;
    let B;
    let idA;
    let idB;
    let bDelivery; // id of B's own delivery
    const cliOutput = []; // what trackd's commands printed

    const pipelines = (ws, endpoint, body) => call(`${trackd.baseUrl}/v1/${endpoint}`, { auth: basic(ws.write_key), body });
    const v1 = (ws, method, p, body) => call(`${trackd.baseUrl}/api/v1/${p}`, { method, auth: basic(ws.site_id, ws.api_key), body });
    const v2 = (ws, p, body) => call(`${trackd.baseUrl}/api/v2/${p}`, { auth: basic(ws.site_id, ws.api_key), body });

    before(async () => {
        receiver = new Receiver();
        const base = await receiver.start();
        rulesA = fs.mkdtempSync(path.join(os.tmpdir(), 'trackd-iso-a-'));
        rulesB = fs.mkdtempSync(path.join(os.tmpdir(), 'trackd-iso-b-'));
        const webhook = (name, event, hook) => ({
            name,
            trigger: { event },
            action: { type: 'webhook', url: `${base}${hook}`, method: 'POST', body: { who: '{{ person.id }}' } },
        });
        const push = (name, event) => ({ name, trigger: { event }, action: { type: 'push', title: 'hi', body: 'there' } });
        fs.writeFileSync(path.join(rulesA, 'a-push.json'), JSON.stringify(push('a-push', 'a_push')));
        fs.writeFileSync(path.join(rulesB, 'b-hook.json'), JSON.stringify(webhook('b-hook', 'iso_event', '/hooks/b')));
        fs.writeFileSync(path.join(rulesB, 'b-push.json'), JSON.stringify(push('b-push', 'iso_push')));

        secretUrl = withPassword(process.env.TRACKD_TEST_DATABASE_URL ?? '');
        trackd = await startTrackd({
            databaseUrl: secretUrl?.url ?? null,
            workspaces: ['other'],
            rules: [rulesA],
            logLevel: 'debug',
            transcript: true,
            env: { TRACKD_FCM_URL: `${base}/fcm`, TRACKD_FCM_TOKEN: FCM_TOKEN, TRACKD_RETRY_BASE: '1', TRACKD_RETRY_CAP: '2' },
        });
        cliOutput.push(await trackd.cli(['rules', 'load', '--workspace', 'other', rulesB]));
        A = trackd.workspaces.compat;
        B = trackd.workspaces.other;
        const ids = await trackd.query(`SELECT id, name FROM workspaces`);
        idA = ids.find((w) => w.name === 'compat').id;
        idB = ids.find((w) => w.name === 'other').id;

        // B's own data, written with B's keys.
        const seed = [
            await pipelines(B, 'identify', { userId: 'b-only', anonymousId: 'b-anon', traits: { owner: 'B', email: 'b@example.com' } }),
            await pipelines(B, 'identify', { userId: 'b-second', traits: { owner: 'B' } }),
            await pipelines(B, 'identify', { userId: 'shared-id', traits: { owner: 'B' } }),
            await pipelines(B, 'group', { userId: 'b-only', groupId: 'b-group', traits: { name: 'B group' } }),
            await v1(B, 'PUT', 'customers/b-only/devices', { device: { id: 'b-token', platform: 'android' } }),
            await v1(B, 'POST', 'segments/6/add_customers', { ids: ['b-only'] }),
            await v2(B, 'entity', {
                type: 'object', action: 'identify', identifiers: { object_type_id: '2', object_id: 'b-account' },
                attributes: { owner: 'B' }, cio_relationships: [{ identifiers: { id: 'b-second' }, relationship_attributes: { role: 'B' } }],
            }),
            await pipelines(B, 'track', { userId: 'b-only', event: 'iso_event', messageId: 'b-msg-1', properties: {} }),
        ];
        assert.deepEqual(seed.map((r) => r.status), [200, 200, 200, 200, 200, 200, 200, 200], JSON.stringify(seed.map((r) => r.body)));
        // The positive control: B's rule fires on B's event.
        await waitFor(async () => (await trackd.query(`SELECT id FROM deliveries WHERE workspace_id = ${idB} AND status = 'sent'`)).length === 1, {
            ms: 20_000,
            what: "B's webhook delivery to be sent",
        });
        [{ id: bDelivery }] = await trackd.query(`SELECT id FROM deliveries WHERE workspace_id = ${idB}`);
        assert.equal(receiver.to('/hooks/b').length, 1);
    });

    after(async () => {
        await trackd?.stop();
        await receiver?.stop();
        for (const dir of [rulesA, rulesB]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    // Everything of workspace B, as comparable JSON.
    async function snapshotB() {
        const tables = {
            people: `SELECT id, cio_id, customer_id, email, attributes, created_at, updated_at FROM people WHERE workspace_id = ${idB} ORDER BY id`,
            anonymous_ids: `SELECT anonymous_id, person_id, linked_at FROM anonymous_ids WHERE workspace_id = ${idB} ORDER BY anonymous_id`,
            events: `SELECT id, person_id, anonymous_id, message_id, name, properties FROM events WHERE workspace_id = ${idB} ORDER BY id`,
            devices: `SELECT id, person_id, token, platform, attributes, last_used FROM devices WHERE workspace_id = ${idB} ORDER BY id`,
            suppressions: `SELECT identifier_type, identifier FROM suppressions WHERE workspace_id = ${idB} ORDER BY 1, 2`,
            rules: `SELECT id, name, definition, enabled, updated_at FROM rules WHERE workspace_id = ${idB} ORDER BY id`,
            deliveries: `SELECT id, rule_id, person_id, event_id, status, attempts, delivered_at, opened_at, clicked_at, converted_at FROM deliveries WHERE workspace_id = ${idB} ORDER BY id`,
            objects: `SELECT * FROM objects WHERE workspace_id = ${idB}`,
            relationships: `SELECT * FROM relationships WHERE workspace_id = ${idB}`,
            segments: `SELECT * FROM segments WHERE workspace_id = ${idB} ORDER BY segment_id`,
            segment_members: `SELECT segment_id, person_id FROM segment_members WHERE workspace_id = ${idB} ORDER BY 1, 2`,
            rejected_requests: `SELECT id FROM rejected_requests WHERE workspace_id = ${idB}`,
            // Metrics recorded under B, or without credentials (A's own record of a metric it
            // reported is A's row).
            delivery_metrics: `SELECT delivery_id, metric FROM delivery_metrics WHERE workspace_id = ${idB} OR workspace_id IS NULL ORDER BY id`,
        };
        const out = {};
        for (const [name, sql] of Object.entries(tables)) out[name] = await trackd.query(sql);
        return out;
    }

    it("A's keys cannot write into B or touch B's people, devices, ids or deliveries", async () => {
        const before = await snapshotB();
        assert.equal(before.people.length, 3);
        assert.equal(before.devices.length, 1);
        assert.equal(before.segment_members.length, 1);
        const bCio = before.people.find((p) => p.customer_id === 'b-only').cio_id;
        const bObject = before.objects.find((o) => o.object_id === 'b-account').cio_object_id;
        const d = String(bDelivery);

        const calls = {
            // Pipelines, A's write key.
            'pipelines identify': () => pipelines(A, 'identify', { userId: 'b-only', anonymousId: 'b-anon', traits: { owner: 'A', email: 'b@example.com' } }),
            'pipelines track': () => pipelines(A, 'track', { userId: 'b-only', event: 'iso_event', properties: {} }),
            'pipelines track, B message id': () => pipelines(A, 'track', { userId: 'b-only', event: 'x', messageId: 'b-msg-1', properties: {} }),
            'pipelines anonymous track': () => pipelines(A, 'track', { anonymousId: 'b-anon', event: 'iso_event', properties: {} }),
            'pipelines delete': () => pipelines(A, 'track', { userId: 'b-only', event: 'User Deleted', properties: {} }),
            'pipelines suppress': () => pipelines(A, 'track', { userId: 'shared-id', event: 'User Suppressed', properties: {} }),
            'pipelines unsuppress': () => pipelines(A, 'track', { userId: 'shared-id', event: 'User Unsuppressed', properties: {} }),
            'pipelines device': () =>
                pipelines(A, 'track', { userId: 'b-only', event: 'Device Created or Updated', properties: {}, context: { device: { token: 'b-token', type: 'ios' } } }),
            'pipelines device deleted': () =>
                pipelines(A, 'track', { userId: 'b-only', event: 'Device Deleted', properties: {}, context: { device: { token: 'b-token', type: 'android' } } }),
            'pipelines delivery metric': () =>
                pipelines(A, 'track', { anonymousId: 'x', event: 'Report Delivery Event', properties: { deliveryId: d, metric: 'opened' } }),
            'pipelines alias': () => pipelines(A, 'alias', { userId: 'b-second', previousId: 'b-anon' }),
            'pipelines group': () => pipelines(A, 'group', { userId: 'b-second', groupId: 'b-group', traits: { name: 'A' } }),
            'pipelines batch': () =>
                pipelines(A, 'batch', {
                    batch: [
                        { type: 'identify', userId: 'b-second', traits: { owner: 'A' } },
                        { type: 'track', userId: 'b-second', event: 'User Deleted', properties: {} },
                    ],
                }),
            'browser form, write key in body': () =>
                call(`${trackd.baseUrl}/v1/t`, {
                    headers: { 'Content-Type': 'text/plain' },
                    body: JSON.stringify({ writeKey: A.write_key, userId: 'b-only', event: 'iso_event', properties: {} }),
                }),
            // Track API v1, A's site id and api key.
            'v1 identify': () => v1(A, 'PUT', 'customers/b-only', { owner: 'A', email: 'b@example.com' }),
            'v1 identify by email': () => v1(A, 'PUT', 'customers/b%40example.com', { owner: 'A' }),
            "v1 identify B's cio_id": () => v1(A, 'PUT', `customers/cio_${bCio}`, { owner: 'A' }),
            'v1 event': () => v1(A, 'POST', 'customers/b-only/events', { name: 'iso_event', data: {} }),
            'v1 anonymous event': () => v1(A, 'POST', 'events', { name: 'iso_event', anonymous_id: 'b-anon', data: {} }),
            'v1 add device': () => v1(A, 'PUT', 'customers/b-only/devices', { device: { id: 'b-token', platform: 'ios' } }),
            'v1 delete device': () => v1(A, 'DELETE', 'customers/b-only/devices/b-token'),
            'v1 suppress': () => v1(A, 'POST', 'customers/shared-id/suppress'),
            'v1 unsuppress': () => v1(A, 'POST', 'customers/shared-id/unsuppress'),
            'v1 merge': () => v1(A, 'POST', 'merge_customers', { primary: { id: 'b-only' }, secondary: { id: 'b-second' } }),
            "v1 delete B's cio_id": () => v1(A, 'DELETE', `customers/cio_${bCio}`),
            'v1 delete': () => v1(A, 'DELETE', 'customers/b-only'),
            'v1 metrics': () => v1(A, 'POST', 'metrics', { delivery_id: d, metric: 'clicked' }),
            'v1 push events': () => v1(A, 'POST', 'push/events', { delivery_id: d, event: 'converted' }),
            "v1 segment add of B's people": () => v1(A, 'POST', 'segments/5/add_customers', { ids: ['b-only', 'b-second'] }),
            "v1 segment remove of B's people": () => v1(A, 'POST', 'segments/6/remove_customers', { ids: ['b-only'] }),
            "v1 segment add by B's email": () => v1(A, 'POST', 'segments/5/add_customers?id_type=email', { ids: ['b@example.com'] }),
            // Track API v2, A's site id and api key.
            'v2 entity identify': () => v2(A, 'entity', { type: 'person', action: 'identify', identifiers: { id: 'b-second' }, attributes: { owner: 'A' } }),
            'v2 entity event': () => v2(A, 'entity', { type: 'person', action: 'event', identifiers: { id: 'b-second' }, name: 'iso_event' }),
            'v2 entity add_device': () =>
                v2(A, 'entity', { type: 'person', action: 'add_device', identifiers: { id: 'b-second' }, device: { token: 'b-token', platform: 'ios' } }),
            'v2 entity delete_device': () =>
                v2(A, 'entity', { type: 'person', action: 'delete_device', identifiers: { id: 'b-only' }, device: { token: 'b-token' } }),
            'v2 entity merge': () =>
                v2(A, 'entity', { type: 'person', action: 'merge', primary: { id: 'b-second' }, secondary: { id: 'b-only' } }),
            'v2 object identify, same type and id': () =>
                v2(A, 'entity', { type: 'object', action: 'identify', identifiers: { object_type_id: '2', object_id: 'b-account' }, attributes: { owner: 'A' } }),
            "v2 object identify by B's cio_object_id": () =>
                v2(A, 'entity', {
                    type: 'object', action: 'identify', identifiers: { cio_object_id: bObject }, attributes: { owner: 'A' },
                    cio_relationships: [{ identifiers: { id: 'b-only' } }],
                }),
            "v2 object relationships of B's people": () =>
                v2(A, 'entity', {
                    type: 'object', action: 'add_relationships', identifiers: { object_type_id: '2', object_id: 'b-account' },
                    cio_relationships: [{ identifiers: { id: 'b-only' } }, { identifiers: { cio_id: bCio } }, { identifiers: { email: 'b@example.com' } }],
                }),
            "v2 object delete_relationships by B's cio_object_id": () =>
                v2(A, 'entity', { type: 'object', action: 'delete_relationships', identifiers: { cio_object_id: bObject }, cio_relationships: [{ identifiers: { id: 'b-second' } }] }),
            "v2 object delete by B's cio_object_id": () => v2(A, 'entity', { type: 'object', action: 'delete', identifiers: { cio_object_id: bObject } }),
            "v2 person add_relationships to B's object": () =>
                v2(A, 'entity', { type: 'person', action: 'add_relationships', identifiers: { cio_id: bCio }, cio_relationships: [{ identifiers: { cio_object_id: bObject } }] }),
            "v2 person delete_relationships of B's person": () =>
                v2(A, 'entity', {
                    type: 'person', action: 'delete_relationships', identifiers: { id: 'b-second' },
                    cio_relationships: [{ identifiers: { object_type_id: '2', object_id: 'b-account' } }],
                }),
            "v1 identify relating B's object": () =>
                v1(A, 'PUT', 'customers/b-second', { cio_relationships: { action: 'add_relationships', relationships: [{ identifiers: { cio_object_id: bObject } }] } }),
            'v2 entity delivery': () => v2(A, 'entity', { type: 'delivery', action: 'event', identifiers: { id: d }, name: 'opened' }),
            'v2 batch': () =>
                v2(A, 'batch', {
                    batch: [
                        { type: 'person', action: 'suppress', identifiers: { id: 'b-only' } },
                        { type: 'person', action: 'delete', identifiers: { id: 'b-second' } },
                        { type: 'person', action: 'delete', identifiers: { email: 'b@example.com' } },
                    ],
                }),
        };
        const answers = {};
        for (const [name, fn] of Object.entries(calls)) {
            const r = await fn();
            answers[name] = r.status;
            assert.ok([200, 207, 400, 404].includes(r.status), `${name}: ${r.status} ${r.body}`);
        }

        // Mixed credentials are refused and write nothing anywhere.
        const refused = {
        "A's site id with B's api key": await call(`${trackd.baseUrl}/api/v1/customers/x1`, { method: 'PUT', auth: basic(A.site_id, B.api_key), body: {} }),
        "B's site id with A's api key": await call(`${trackd.baseUrl}/api/v1/customers/x2`, { method: 'PUT', auth: basic(B.site_id, A.api_key), body: {} }),
        "A's api key as a write key": await call(`${trackd.baseUrl}/v1/identify`, { auth: basic(A.api_key), body: { userId: 'x3' } }),
        "A's write key as an api key": await call(`${trackd.baseUrl}/api/v1/customers/x4`, { method: 'PUT', auth: basic(A.site_id, A.write_key), body: {} }),
        "B's site id alone": await call(`${trackd.baseUrl}/api/v1/customers/x5`, { method: 'PUT', auth: basic(B.site_id, ''), body: {} }),
        };
        for (const [name, r] of Object.entries(refused)) assert.equal(r.status, 401, `${name}: ${r.status} ${r.body}`);
        assert.deepEqual(await trackd.query(`SELECT customer_id FROM people WHERE customer_id IN ('x1','x2','x3','x4','x5')`), []);

        // Give the evaluator and the delivery worker time to act on anything they should not.
        await sleep(1_500);
        const afterSnapshot = await snapshotB();
        for (const table of Object.keys(before)) {
            assert.deepEqual(afterSnapshot[table], before[table], `workspace B's ${table} changed (answers: ${JSON.stringify(answers)})`);
        }
        // The calls did land, in A (whose own deletes removed most of what the others created).
        const suppressedInA = await trackd.query(`SELECT identifier FROM suppressions WHERE workspace_id = ${idA}`);
        assert.deepEqual(suppressedInA.map((r) => r.identifier), ['b-only'], "A's suppressions");
        // B's rules fired nothing for A's events.
        assert.equal(receiver.to('/hooks/b').length, 1, "B's webhook got only B's own event");
        assert.deepEqual(await trackd.query(`SELECT id FROM deliveries WHERE workspace_id = ${idA}`), []);
    });

    it('prints no key, FCM token, database password or personal data, at debug level and on errors', async (t) => {
        // A push from A's rule uses the FCM token (so it was really loaded and sent).
        const seed = [
            await pipelines(A, 'identify', { userId: 'pushed', traits: {} }),
            await v1(A, 'PUT', 'customers/pushed/devices', { device: { id: 'a-token', platform: 'android' } }),
            await pipelines(A, 'track', { userId: 'pushed', event: 'a_push', properties: {} }),
        ];
        assert.deepEqual(seed.map((r) => r.status), [200, 200, 200]);
        await waitFor(() => receiver.to('/fcm').length > 0, { ms: 20_000, what: 'the push to reach the receiver' });
        assert.equal(receiver.to('/fcm')[0].headers.authorization, `Bearer ${FCM_TOKEN}`);

        // Requests that carry keys in every place a client may put them, good and bad.
        const probes = [
            await call(`${trackd.baseUrl}/v1/projects/${A.write_key}/settings`, { method: 'GET' }),
            await call(`${trackd.baseUrl}/v1/t`, { headers: { 'Content-Type': 'text/plain' }, body: JSON.stringify({ writeKey: B.write_key, event: 'e', userId: 'u' }) }),
            await call(`${trackd.baseUrl}/v1/t`, { headers: { 'Content-Type': 'text/plain' }, body: JSON.stringify({ writeKey: B.write_key, userId: 'u' }) }),
            await call(`${trackd.baseUrl}/v1/track`, { auth: basic(A.write_key), body: { event: 'no person' } }),
            await call(`${trackd.baseUrl}/v1/track`, { auth: basic(`${A.write_key}x`), body: { userId: 'u', event: 'e' } }),
            await call(`${trackd.baseUrl}/api/v1/customers/u`, { method: 'PUT', auth: basic(A.site_id, `${A.api_key}x`), body: {} }),
            await call(`${trackd.baseUrl}/api/v1/customers/u`, { method: 'PUT', auth: basic(B.site_id, B.api_key), body: { id: 5 } }),
            await call(`${trackd.baseUrl}/api/v1/customers/${B.api_key}`, { method: 'PUT', auth: basic(B.site_id, 'wrong'), body: {} }),
            await call(`${trackd.baseUrl}/api/v1/accounts/region`, { method: 'GET', auth: basic(A.site_id, A.api_key) }),
            // Personal data: emails in identifies, in a conflict between two people (logged), in
            // a refused call, and beside a number PostgreSQL would refuse.
            await pipelines(A, 'identify', { userId: 'mail-1', traits: { email: 'first.person@mail.example' } }),
            await pipelines(A, 'identify', { userId: 'mail-2', traits: { email: 'second.person@mail.example' } }),
            await v1(A, 'PUT', 'customers/mail-1', { email: 'second.person@mail.example' }),
            await v1(A, 'PUT', 'customers/first.person@mail.example', { id: 'mail-2' }),
            await call(`${trackd.baseUrl}/v1/identify`, { auth: basic(A.write_key), body: '{"userId":"mail-3","traits":{"email":"third.person@mail.example","n":1.}}' }),
            await pipelines(A, 'track', { userId: 'mail-3', event: 'third.person@mail.example', properties: { email: 'third.person@mail.example' } }),
        ];
        t.diagnostic(`probe answers: ${probes.map((p) => p.status).join(' ')}`);
        const metrics = await call(`${trackd.baseUrl}/metrics`, { method: 'GET' });
        t.diagnostic(`/metrics: ${metrics.status}`);

        // trackd's commands, and a start that fails on a database that does not exist.
        const env = { DATABASE_URL: trackd.databaseUrl, TRACKD_FCM_TOKEN: FCM_TOKEN, TRACKD_LOG_LEVEL: 'debug' };
        cliOutput.push((await runTrackd(['rules', 'list', '--workspace', 'other'], env)).output);
        cliOutput.push((await runTrackd(['workspace', 'list'], env)).output);
        cliOutput.push((await runTrackd(['--help'], env)).output);
        const missing = { ...env, DATABASE_URL: withDatabase(trackd.databaseUrl, 'trackd_no_such_database') };
        const failedServe = await runTrackd(['serve'], { ...missing, TRACKD_LISTEN: '127.0.0.1:0' });
        assert.notEqual(failedServe.code, 0, 'serve on a missing database fails');
        cliOutput.push(failedServe.output, (await runTrackd(['migrate'], missing)).output);
        const badValue = await runTrackd(['serve'], { ...env, TRACKD_WRITERS: 'many' });
        assert.equal(badValue.code, 2);
        cliOutput.push(badValue.output);

        const secrets = {
            "A's write key": A.write_key,
            "A's api key": A.api_key,
            "B's write key": B.write_key,
            "B's api key": B.api_key,
            'the FCM token': FCM_TOKEN,
            'an email sent': 'first.person@mail.example',
            'another email sent': 'second.person@mail.example',
            'a third email sent': 'third.person@mail.example',
        };
        if (secretUrl) secrets['the database password'] = secretUrl.password;
        else t.diagnostic('TRACKD_TEST_DATABASE_URL takes no password in URI form: the password is not checked');
        const places = {
            "the server's output": trackd.transcript,
            "trackd's commands": cliOutput.join('\n'),
            '/metrics': metrics.status === 200 ? metrics.body : '',
        };
        const leaks = [];
        for (const [where, text] of Object.entries(places)) {
            for (const [what, secret] of Object.entries(secrets)) {
                const at = text.indexOf(secret);
                if (at >= 0) leaks.push(`${what} in ${where}: ...${text.slice(Math.max(0, at - 80), at + secret.length + 20)}...`);
            }
        }
        assert.deepEqual(leaks, [], leaks.join('\n'));
        // The server did log at debug level, and masked the URL it names.
        assert.match(trackd.transcript, /serving on/, 'the start line was printed');
        if (secretUrl) assert.match(trackd.transcript, /:\*\*\*@/, 'the database URL is shown masked');

        // Keys are stored hashed: no column of workspaces holds one.
        const rows = JSON.stringify(await trackd.query('SELECT * FROM workspaces'));
        for (const [what, secret] of Object.entries(secrets)) assert.ok(!rows.includes(secret), `${what} stored in workspaces`);
    });
});
