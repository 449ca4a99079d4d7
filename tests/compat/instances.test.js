'use strict';
// Two `trackd serve` processes on one PostgreSQL, under concurrent load through both: no
// duplicate person, no lost attribute, no event left anonymous, merges race-free, every event
// evaluated once and every delivery sent once.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const net = require('node:net');
const { startTrackd } = require('./harness');
const { Receiver } = require('./receiver');

const SUITE_TIMEOUT_MS = 180_000;

function freePort() {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.on('error', reject);
        server.listen(0, '127.0.0.1', () => {
            const { port } = server.address();
            server.close(() => resolve(port));
        });
    });
}

async function waitHealthy(base) {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
        try {
            const r = await fetch(`${base}/healthz`);
            if (r.ok) return;
        } catch {
            // not up yet
        }
        await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${base} did not become healthy`);
}

describe('two trackd instances on one database', { timeout: SUITE_TIMEOUT_MS }, () => {
    let trackd; // instance A (harness-managed)
    let second; // instance B (child process)
    let bases;
    let receiver;
    let rulesDir;
    let auth;

    before(async () => {
        receiver = new Receiver();
        const hooks = await receiver.start();
        rulesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackd-instances-'));
        fs.writeFileSync(
            path.join(rulesDir, 'each-order.json'),
            JSON.stringify({
                name: 'each-order',
                trigger: { event: 'order' },
                action: { type: 'webhook', url: `${hooks}/orders`, body: { order: '{{ event.n }}' } },
            })
        );
        const env = { TRACKD_RETRY_BASE: '1', TRACKD_DELIVERY_TIMEOUT: '5' };
        trackd = await startTrackd({ rules: [rulesDir], env });
        const port = await freePort();
        second = spawn(process.env.TRACKD_BIN, ['serve'], {
            env: trackd.env({ TRACKD_LISTEN: `127.0.0.1:${port}`, TRACKD_LOG_LEVEL: 'warn', ...env }),
            stdio: 'ignore',
        });
        bases = [trackd.baseUrl, `http://127.0.0.1:${port}`];
        await waitHealthy(bases[1]);
        auth = 'Basic ' + Buffer.from(`${trackd.workspace.write_key}:`).toString('base64');
    });

    after(async () => {
        second?.kill('SIGTERM');
        await trackd?.stop();
        await receiver?.stop();
        fs.rmSync(rulesDir, { recursive: true, force: true });
    });

    // Posts one Pipelines call to instance i; resolves with the status.
    async function post(i, endpoint, body) {
        const response = await fetch(`${bases[i % 2]}/v1/${endpoint}`, {
            method: 'POST',
            headers: { Authorization: auth, 'Content-Type': 'application/json' },
            body: JSON.stringify(body),
        });
        await response.arrayBuffer();
        return response.status;
    }

    it('concurrent identifies of the same new people through both make one person each', async () => {
        const calls = [];
        for (let person = 0; person < 20; person++) {
            for (let k = 0; k < 10; k++) {
                calls.push(post(k, 'identify', { userId: `both-${person}`, traits: { [`k${k}`]: k } }));
            }
        }
        const statuses = await Promise.all(calls);
        assert.ok(statuses.every((s) => s === 200), JSON.stringify(statuses));
        const rows = await trackd.query(
            `SELECT customer_id, count(*)::int AS people,
                    max((SELECT count(*) FROM jsonb_object_keys(attributes)))::int AS attributes
               FROM people WHERE customer_id LIKE 'both-%' GROUP BY customer_id`
        );
        assert.equal(rows.length, 20);
        assert.ok(rows.every((r) => r.people === 1 && r.attributes === 10), JSON.stringify(rows));
    });

    it('anonymous events sent to one instance join the person identified on the other', async () => {
        const calls = [];
        for (let n = 0; n < 20; n++) {
            const anonymousId = `anon-both-${n}`;
            calls.push(post(0, 'track', { anonymousId, event: 'Browse' }));
            calls.push(post(1, 'identify', { userId: `linked-both-${n}`, anonymousId }));
            calls.push(post(0, 'track', { anonymousId, event: 'Browse' }));
        }
        const statuses = await Promise.all(calls);
        assert.ok(statuses.every((s) => s === 200));
        const left = await trackd.query(
            `SELECT count(*)::int AS n FROM events WHERE anonymous_id LIKE 'anon-both-%' AND person_id IS NULL`
        );
        assert.deepEqual(left, [{ n: 0 }], 'no event left behind');
    });

    it('merges of the same person through both instances stay consistent', async () => {
        for (let n = 0; n < 3; n++) await post(0, 'identify', { userId: `m-${n}`, traits: { n } });
        const merge = (i, primary, secondary) =>
            fetch(`${bases[i]}/api/v1/merge_customers`, {
                method: 'POST',
                headers: {
                    Authorization:
                        'Basic ' +
                        Buffer.from(`${trackd.workspace.site_id}:${trackd.workspace.api_key}`).toString('base64'),
                    'Content-Type': 'application/json',
                },
                body: JSON.stringify({ primary: { id: primary }, secondary: { id: secondary } }),
            }).then((r) => r.status);
        const statuses = await Promise.all([merge(0, 'm-0', 'm-1'), merge(1, 'm-2', 'm-1')]);
        assert.ok(statuses.every((s) => s === 200), JSON.stringify(statuses));
        const people = await trackd.query(`SELECT customer_id FROM people WHERE customer_id LIKE 'm-%' ORDER BY 1`);
        assert.deepEqual(people.map((p) => p.customer_id), ['m-0', 'm-2'], 'm-1 merged away exactly once');
    });

    it('every event is evaluated once and every delivery sent once', async () => {
        const calls = [];
        for (let n = 0; n < 60; n++) calls.push(post(n, 'track', { userId: `buyer-${n % 7}`, event: 'order', properties: { n } }));
        assert.ok((await Promise.all(calls)).every((s) => s === 200));
        await receiver.waitFor(
            async () => {
                const [row] = await trackd.query(
                    `SELECT count(*) FILTER (WHERE status = 'sent')::int AS sent FROM deliveries`
                );
                return row.sent >= 60;
            },
            30_000,
            'sixty deliveries'
        );
        await new Promise((r) => setTimeout(r, 500));
        const [firings] = await trackd.query(`SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS events FROM firings`);
        assert.deepEqual(firings, { n: 60, events: 60 }, 'one firing per event');
        const keys = receiver.to('/orders').map((r) => r.headers['idempotency-key']);
        assert.equal(keys.length, 60, 'sixty sends');
        assert.equal(new Set(keys).size, 60, 'no delivery sent twice');
        const orders = receiver.to('/orders').map((r) => Number(r.body.order)).sort((a, b) => a - b);
        assert.deepEqual(orders, Array.from({ length: 60 }, (_, i) => i));
        // The evaluators of both processes evaluated each queued event once between them.
        let evaluated = 0;
        for (const base of bases) {
            const page = await (await fetch(`${base}/metrics`)).text();
            evaluated += Number(/^trackd_rule_evaluations_total (\d+)$/m.exec(page)[1]);
        }
        assert.equal(evaluated, 60);
    });
});
