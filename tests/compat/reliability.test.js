'use strict';
// Reliability under failure (issue 7, items 1, 2, 4 and 9): a real trackd under steady load of
// single-event /v1/track calls (plain fetch, Basic auth, keep-alive, a unique messageId each),
// while it is killed with SIGKILL, while its PostgreSQL is stopped and started, while its writes
// are blocked by a table lock, and while it is asked to stop with SIGTERM. Each test remembers
// which calls were answered 2xx and asserts that every one of them is in `events`, once.
//
// Every loop is bounded in count and time; everything stays on 127.0.0.1.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startTrackd, PrivateCluster, PsqlSession } = require('./harness');
const { Receiver } = require('./receiver');
const { sleep, basic, call, fresh, runClients, sampleRss, waitFor, tally } = require('./load');

const is2xx = (r) => r.status >= 200 && r.status < 300;

// A single-event /v1/track call with messageId `id` (also kept in properties.mid).
function track(trackd, id, { event = 'load', timeoutMs = 10_000 } = {}) {
    return call(`${trackd.baseUrl}/v1/track`, {
        auth: basic(trackd.workspace.write_key),
        body: { userId: `user-${id.split('-').slice(0, -1).join('-')}`, event, messageId: id, properties: { mid: id } },
        timeoutMs,
    }).then((r) => ({ ...r, id }));
}

// message_id -> number of rows in events, for the message ids starting with `prefix`.
async function storedIds(trackd, prefix) {
    const rows = await trackd.query(
        `SELECT message_id, count(*)::int AS n FROM events WHERE message_id LIKE '${prefix}%' GROUP BY message_id`
    );
    return new Map(rows.map((r) => [r.message_id, r.n]));
}

// Asserts that every call answered 2xx is stored exactly once.
function assertAckedStored(results, stored, what) {
    const acked = results.filter(is2xx).map((r) => r.id);
    const missing = acked.filter((id) => !stored.has(id));
    assert.deepEqual(missing.slice(0, 20), [], `${what}: ${missing.length} of ${acked.length} calls answered 2xx are not in events`);
    const doubled = [...stored].filter(([, n]) => n !== 1);
    assert.deepEqual(doubled.slice(0, 20), [], `${what}: message ids stored more than once`);
}

function writeRules(dir, rules) {
    for (const rule of rules) fs.writeFileSync(path.join(dir, `${rule.name}.json`), JSON.stringify(rule));
}

const webhookRule = (name, event, url) => ({
    name,
    trigger: { event },
    action: { type: 'webhook', url, method: 'POST', body: { mid: '{{ event.mid }}' } },
});

describe('kill -9 under load', { timeout: 90_000 }, () => {
    let trackd;
    let receiver;
    let rulesDir;

    before(async () => {
        receiver = new Receiver();
        const base = await receiver.start();
        rulesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackd-crash-rules-'));
        writeRules(rulesDir, [webhookRule('crash-hook', 'crash_load', `${base}/hooks/crash`)]);
        trackd = await startTrackd({
            rules: [rulesDir],
            env: { TRACKD_RETRY_BASE: '1', TRACKD_RETRY_CAP: '2', TRACKD_DELIVERY_TIMEOUT: '2' },
        });
    });

    after(async () => {
        await trackd?.stop();
        await receiver?.stop();
        if (rulesDir) fs.rmSync(rulesDir, { recursive: true, force: true });
    });

    it('loses no acknowledged event, stores none twice, and evaluates and delivers each once', async (t) => {
        // The receiver takes 200 ms to answer a webhook, so that sends are in flight when trackd
        // dies: those must be sent again after the restart.
        const ANSWER_MS = 200;
        receiver.on('/hooks/crash', async () => {
            await sleep(ANSWER_MS);
            return { status: 200 };
        });
        let killed = false;
        const attempted = new Set();
        let acked = 0;
        const load = runClients({
            clients: 8,
            maxPerClient: 5_000,
            maxMs: 20_000,
            stopOnError: true,
            until: () => killed,
            send: async (client, i) => {
                const id = `kill-${client}-${i}`;
                attempted.add(id);
                const r = await track(trackd, id, { event: 'crash_load' });
                if (is2xx(r)) acked++;
                return r;
            },
        });
        // Kill once the load is steady and deliveries are being sent.
        await waitFor(() => acked >= 400 && receiver.to('/hooks/crash').length >= 20, {
            ms: 15_000,
            everyMs: 10,
            what: '400 acknowledged calls and 20 webhooks',
        });
        const killAt = Date.now();
        trackd.child.kill('SIGKILL');
        await new Promise((resolve) => (trackd.exited ? resolve() : trackd.child.once('exit', resolve)));
        killed = true;
        const results = await load;
        const unexpected = results.filter((r) => r.status !== 0 && !is2xx(r));
        assert.deepEqual(unexpected.slice(0, 5), [], `answers other than 2xx under light load: ${JSON.stringify(tally(results))}`);

        const receivedBeforeKill = receiver.to('/hooks/crash').length;
        await trackd.serve();
        assertAckedStored(results, await storedIds(trackd, 'kill-'), 'after kill -9');

        // The clients send again what got no answer (as the SDKs do), with the same message ids:
        // each is stored once, whether or not it had been committed before the kill.
        const unanswered = [...attempted].filter((id) => !results.some((r) => r.id === id && is2xx(r)));
        const retried = await Promise.all(unanswered.map((id) => track(trackd, id, { event: 'crash_load' })));
        assert.ok(retried.every(is2xx), `retries: ${JSON.stringify(tally(retried))}`);
        const stored = await storedIds(trackd, 'kill-');
        assertAckedStored([...results, ...retried], stored, 'after the retries');
        assert.equal(stored.size, attempted.size, 'every message id sent is stored');

        // Evaluation resumes: every event fires its rule exactly once, and every delivery
        // reaches the receiver, always under its own idempotency key.
        const events = stored.size;
        await waitFor(
            async () => {
                const [row] = await trackd.query(
                    `SELECT count(*)::int AS n, count(*) FILTER (WHERE d.status = 'sent')::int AS sent
                       FROM deliveries d JOIN rules r ON r.id = d.rule_id WHERE r.name = 'crash-hook'`
                );
                return row.n === events && row.sent === events;
            },
            { ms: 45_000, everyMs: 250, what: `${events} deliveries sent` }
        );
        const deliveries = await trackd.query(
            `SELECT d.id, e.message_id FROM deliveries d JOIN rules r ON r.id = d.rule_id
               JOIN events e ON e.id = d.event_id WHERE r.name = 'crash-hook'`
        );
        const byEvent = new Map();
        for (const d of deliveries) {
            assert.ok(!byEvent.has(d.message_id), `event ${d.message_id} fired twice`);
            byEvent.set(d.message_id, String(d.id));
        }
        assert.equal(byEvent.size, events);
        const keysByMid = new Map();
        const answered = new Set(); // mids whose webhook was answered while trackd was alive to read it
        for (const request of receiver.to('/hooks/crash')) {
            const mid = request.body.mid;
            const key = request.headers['idempotency-key'];
            assert.equal(key, byEvent.get(mid), `webhook for ${mid} carries its delivery id`);
            keysByMid.set(mid, key);
            if (request.at + ANSWER_MS <= killAt || request.at > killAt) answered.add(mid);
        }
        assert.equal(keysByMid.size, events, 'every event reached the receiver');
        const lost = [...keysByMid.keys()].filter((mid) => !answered.has(mid));
        assert.deepEqual(lost.slice(0, 10), [], `${lost.length} webhooks in flight at the kill were not sent again`);
        t.diagnostic(`${results.filter(is2xx).length} of ${results.length} calls answered before the kill, ` +
            `${unanswered.length} sent again; ${events} events; ${receivedBeforeKill} webhooks received before the kill, ` +
            `${receiver.to('/hooks/crash').length} in all`);
    });
});

// CPU seconds (user + system) a process has used so far.
function cpuSeconds(pid) {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ)
}

describe('database outage', { timeout: 150_000 }, () => {
    const WRITE_TIMEOUT_S = 2;
    let dir;
    let cluster;
    let trackd;

    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackd-outage-'));
        cluster = new PrivateCluster(dir);
        const url = await cluster.start();
        trackd = await startTrackd({ databaseUrl: url, env: { TRACKD_WRITE_TIMEOUT: String(WRITE_TIMEOUT_S) } });
    });

    after(async () => {
        try {
            if (trackd) {
                await cluster.start(); // the database is dropped on it
                await trackd.stop();
            }
        } finally {
            await cluster?.destroy();
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it('answers 503 + Retry-After meanwhile, reconnects by itself, and loses nothing answered 2xx', async (t) => {
        const readyz = () => call(`${trackd.baseUrl}/readyz`, { method: 'GET', timeoutMs: 10_000 });
        let stopLoad = false;
        const load = (prefix) =>
            runClients({
                clients: 6,
                maxPerClient: 3_000,
                maxMs: 60_000,
                until: () => stopLoad,
                send: (client, i) => track(trackd, `${prefix}-${client}-${i}`, { timeoutMs: 15_000 }),
            });

        const first = load('outage');
        await sleep(1_000);
        await cluster.stop();
        const down = Date.now();
        const cpuBefore = cpuSeconds(trackd.pid);
        const readyDuring = [];
        while (Date.now() - down < 4_000) {
            readyDuring.push(await readyz());
            await sleep(250);
        }
        const cpuUsed = cpuSeconds(trackd.pid) - cpuBefore;
        const outageMs = Date.now() - down;
        stopLoad = true;
        const results = await first;

        const during = results.filter((r) => r.started >= down);
        t.diagnostic(`before/while stopping: ${JSON.stringify(tally(results.filter((r) => r.started < down)))}; ` +
            `during the outage: ${JSON.stringify(tally(during))}; trackd CPU ${cpuUsed.toFixed(2)} s in ${outageMs} ms`);
        // No call waits much beyond the write timeout, however long the outage.
        const slowest = Math.max(...results.filter((r) => r.started + r.ms >= down).map((r) => r.ms));
        assert.ok(slowest <= WRITE_TIMEOUT_S * 1000 + 2_500, `a call waited ${slowest} ms (write timeout ${WRITE_TIMEOUT_S} s)`);
        assert.ok(during.length >= 6, `calls were made during the outage: ${during.length}`);
        for (const r of results) {
            assert.ok(r.status === 200 || r.status === 503, `${r.id}: status ${r.status} ${r.error ?? r.body}`);
            if (r.status === 503) assert.ok(r.retryAfter, `${r.id}: a 503 without Retry-After`);
        }
        assert.ok(during.every((r) => r.status === 503), `only 503 while the database is down: ${JSON.stringify(tally(during))}`);
        assert.ok(readyDuring.every((r) => r.status === 503), `/readyz while down: ${JSON.stringify(tally(readyDuring))}`);
        assert.ok(cpuUsed < outageMs / 1000 / 2, `trackd used ${cpuUsed} s of CPU in ${outageMs} ms of outage (no backoff?)`);

        // PostgreSQL comes back with no calls arriving: trackd becomes ready by itself.
        await cluster.start();
        const up = Date.now();
        await waitFor(async () => (await readyz()).status === 200, { ms: 20_000, everyMs: 200, what: '/readyz to answer 200 again' });
        t.diagnostic(`/readyz 200 again ${Date.now() - up} ms after PostgreSQL started`);

        stopLoad = false;
        const second = load('outage-after');
        await sleep(1_500);
        stopLoad = true;
        const afterResults = await second;
        assert.ok(afterResults.length > 0 && afterResults.every(is2xx), `calls after the outage: ${JSON.stringify(tally(afterResults))}`);

        assertAckedStored(results, await storedIds(trackd, 'outage-'), 'across the outage');
        assertAckedStored(afterResults, await storedIds(trackd, 'outage-after-'), 'after the outage');
    });
});

describe('overload', { timeout: 120_000 }, () => {
    const QUEUE_MAX = 64;
    const RSS_LIMIT_KB = 128 * 1024;
    let trackd;
    let lock;

    before(async () => {
        trackd = await startTrackd({
            env: { TRACKD_QUEUE_MAX_REQUESTS: String(QUEUE_MAX), TRACKD_WRITE_TIMEOUT: '2' },
        });
    });

    after(async () => {
        await lock?.end().catch(() => {});
        await trackd?.stop();
    });

    // A /v1/batch of `n` track calls of about 1 KB each, message ids `${id}-0` ... `${id}-(n-1)`.
    const filler = 'x'.repeat(900);
    function batch(id, n) {
        return call(`${trackd.baseUrl}/v1/batch`, {
            auth: basic(trackd.workspace.write_key),
            body: {
                batch: Array.from({ length: n }, (_, k) => ({
                    type: 'track',
                    userId: 'flood',
                    event: 'flood',
                    messageId: `${id}-${k}`,
                    properties: { filler },
                })),
            },
            timeoutMs: 30_000,
        }).then((r) => ({ ...r, id }));
    }

    it('answers 503 + Retry-After once the queue is full, keeps memory bounded, and recovers by itself', async (t) => {
        // Writes are blocked: a session holds a lock on events that every insert waits for.
        lock = new PsqlSession(trackd.databaseUrl);
        await lock.send("BEGIN; LOCK TABLE events IN EXCLUSIVE MODE; SELECT 'locked';", 'locked');

        // 300 clients send batches of 100 KB for 8 s: far more than the queue admits (and, were
        // refused requests leaked, far more than the memory bound).
        const rss = sampleRss(trackd.pid, 20);
        const started = Date.now();
        const results = await runClients({
            clients: 300,
            maxPerClient: 1_000,
            maxMs: 8_000,
            send: (client, i) => batch(`flood-${client}-${i}`, 100),
        });
        const maxKb = rss.stop();
        t.diagnostic(`flood: ${JSON.stringify(tally(results))} in ${Date.now() - started} ms; largest RSS ${maxKb} kB`);
        assert.ok(maxKb > 0 && maxKb < RSS_LIMIT_KB, `resident memory reached ${maxKb} kB (limit ${RSS_LIMIT_KB} kB)`);

        for (const r of results) {
            assert.ok(is2xx(r) || r.status === 503, `${r.id}: ${r.status} ${r.error ?? r.body}`);
            if (r.status === 503) assert.ok(r.retryAfter, `${r.id}: a 503 without Retry-After`);
        }
        const refused = results.filter((r) => r.status === 503 && /queue full/.test(r.body));
        assert.ok(refused.length > results.length / 2, `most calls are refused at once for a full queue: ${refused.length} of ${results.length}`);

        // The load drops and the lock goes: trackd takes calls again by itself.
        await lock.send("COMMIT; SELECT 'released';", 'released');
        await lock.end();
        lock = null;
        const released = Date.now();
        await waitFor(async () => is2xx(await track(trackd, `recover-probe-${Date.now()}`)), {
            ms: 15_000,
            everyMs: 200,
            what: 'a call answered 200 after the lock is released',
        });
        t.diagnostic(`answering 200 again ${Date.now() - released} ms after the lock was released`);
        const recovered = await runClients({
            clients: 8,
            maxPerClient: 50,
            maxMs: 10_000,
            send: (client, i) => track(trackd, `recover-${client}-${i}`),
        });
        assert.ok(recovered.every(is2xx), `after recovery: ${JSON.stringify(tally(recovered))}`);
        assertAckedStored(recovered, await storedIds(trackd, 'recover-'), 'after recovery');
        const stored = await storedIds(trackd, 'flood-');
        const ackedItems = results.filter(is2xx).flatMap((r) => Array.from({ length: 100 }, (_, k) => ({ ...r, id: `${r.id}-${k}` })));
        assertAckedStored(ackedItems, stored, 'the flood');
    });
});

describe('graceful shutdown', { timeout: 120_000 }, () => {
    const EXIT_BOUND_MS = 15_000;
    const CLIENTS = 24;
    // The shutdown is repeated (a restart between rounds): a race at the end of the drain shows
    // in some runs only.
    const ROUNDS = 4;
    let trackd;
    let receiver;
    let rulesDir;

    before(async () => {
        receiver = new Receiver();
        const base = await receiver.start();
        rulesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackd-term-rules-'));
        writeRules(rulesDir, [webhookRule('slow-hook', 'shutdown_slow', `${base}/hooks/slow`)]);
        trackd = await startTrackd({ rules: [rulesDir], env: { TRACKD_DELIVERY_TIMEOUT: '10' } });
        // A delivery in flight: the receiver takes 5 s to answer, so that it is still waiting
        // when trackd has drained its write queue and stops the delivery worker.
        receiver.on('/hooks/slow', async () => {
            await sleep(5_000);
            return { status: 200 };
        });
    });

    after(async () => {
        await trackd?.stop();
        await receiver?.stop();
        if (rulesDir) fs.rmSync(rulesDir, { recursive: true, force: true });
    });

    async function shutdownRound(t, round) {
        if (round > 1) await trackd.serve();
        // The first round has a delivery in flight at SIGTERM.
        const slow = round === 1 ? `slow-${round}` : null;
        if (slow) {
            assert.ok(is2xx(await track(trackd, slow, { event: 'shutdown_slow' })));
            await waitFor(() => receiver.to('/hooks/slow').some((r) => r.body.mid === slow), {
                ms: 15_000,
                what: 'the slow webhook to be sent',
            });
        }

        const port = trackd.port;
        const baseUrl = trackd.baseUrl;
        const prefix = `term${round}-`;
        let exited = false;
        const load = runClients({
            clients: CLIENTS,
            maxPerClient: 20_000,
            maxMs: 40_000,
            until: () => exited,
            send: async (client, i) => {
                const id = `${prefix}${client}-${i}`;
                const r = await call(`${baseUrl}/v1/track`, {
                    auth: basic(trackd.workspace.write_key),
                    body: { userId: `term-${client}`, event: 'load', messageId: id },
                    timeoutMs: 20_000,
                });
                if (r.status === 0) await sleep(20); // refused: do not spin
                return { ...r, id };
            },
        });
        await sleep(800);
        // Writes are held up by a lock for a while, so that calls are waiting in the write queue
        // when SIGTERM comes; the lock goes 1 s after it.
        const lock = new PsqlSession(trackd.databaseUrl);
        let termAt;
        let late;
        let result;
        try {
            await lock.send("BEGIN; LOCK TABLE events IN EXCLUSIVE MODE; SELECT 'locked';", 'locked');
            await sleep(500);
            termAt = Date.now();
            const exit = trackd.signal('SIGTERM', EXIT_BOUND_MS + 10_000);
            // New connections are no longer served.
            await sleep(500);
            late = await fresh(port, 'GET', '/healthz', { timeoutMs: 1_000 });
            await sleep(Math.max(0, termAt + 1_000 - Date.now()));
            await lock.send("COMMIT; SELECT 'released';", 'released');
            result = await exit;
        } finally {
            exited = true;
            await lock.end();
        }
        const results = await load;
        const waiting = results.filter((r) => r.started < termAt && r.started + r.ms > termAt);
        t.diagnostic(`round ${round}: exit ${JSON.stringify(result)}; a new connection 500 ms after SIGTERM: ${late.status || late.error}; ` +
            `calls before SIGTERM ${JSON.stringify(tally(results.filter((r) => r.started < termAt)))} ` +
            `(waiting at SIGTERM ${JSON.stringify(tally(waiting))}), after ${JSON.stringify(tally(results.filter((r) => r.started >= termAt)))}`);

        assert.ok(!result.timedOut, `round ${round}: trackd did not exit within ${EXIT_BOUND_MS + 10_000} ms`);
        assert.equal(result.code, 0, `round ${round}: exit code ${result.code}, signal ${result.signal}\n${trackd.serverOutput()}`);
        assert.ok(result.ms <= EXIT_BOUND_MS, `round ${round}: trackd took ${result.ms} ms to exit`);
        assert.notEqual(late.status, 200, 'a new connection was served after SIGTERM');

        // Every call sent before SIGTERM was answered; those waiting for the database then were
        // written once it was free (the write timeout is 5 s, the lock lasted 1.5 s).
        const unanswered = results.filter((r) => r.started < termAt && r.status === 0);
        assert.deepEqual(unanswered.slice(0, 5), [], `${unanswered.length} calls sent before SIGTERM got no answer`);
        assert.ok(waiting.length >= CLIENTS, `calls were waiting at SIGTERM: ${waiting.length}`);
        assert.ok(waiting.every(is2xx), `calls waiting at SIGTERM: ${JSON.stringify(tally(waiting))}`);
        for (const r of results) {
            if (r.status === 0 || is2xx(r)) continue;
            assert.equal(r.status, 503, `${r.id}: ${r.status} ${r.body}`);
            assert.ok(r.retryAfter, `${r.id}: a 503 without Retry-After`);
        }
        assertAckedStored(results, await storedIds(trackd, prefix), `round ${round}`);

        // The delivery in flight finished and was recorded, once.
        if (!slow) return;
        const [delivery] = await trackd.query(
            `SELECT d.status, d.attempts FROM deliveries d JOIN events e ON e.id = d.event_id WHERE e.message_id = '${slow}'`
        );
        assert.deepEqual(delivery, { status: 'sent', attempts: 1 }, `round ${round}: the delivery in flight`);
        assert.equal(receiver.to('/hooks/slow').filter((r) => r.body.mid === slow).length, 1);
    }

    it('SIGTERM under load: stops accepting, answers what it took, finishes the delivery in flight, exits 0', async (t) => {
        for (let round = 1; round <= ROUNDS; round++) await shutdownRound(t, round);
    });
});
