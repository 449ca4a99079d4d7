'use strict';
// Slow and idle clients (issue 7, item 5): hundreds to thousands of TCP connections that send a
// partial request and then nothing, or drip one byte a second, must not keep other clients from
// being served; idle connections are closed after TRACKD_CONNECTION_TIMEOUT, and a request that
// has not arrived whole within TRACKD_READ_TIMEOUT is cut off however it trickles; the connection
// limit (TRACKD_MAX_CONNECTIONS) holds by refusing connections over it at once, while those held
// keep working, and a slot freed later serves a normal request again. Also the memory a crowd of
// large unfinished uploads may hold (issue 7, item 4).
//
// The counts are kept below the open-files limit of this process and of trackd (checked at run
// time); every loop is bounded in count and time; everything stays on 127.0.0.1.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const { startTrackd } = require('./harness');
const { sleep, basic, call, fresh, openFilesLimit, rssKb, waitFor } = require('./load');

// Opens `count` connections (in waves of `wave`) that send `first` once connected and then
// nothing more. Each entry records when it connected and when it was closed (by the server: this
// side never closes one until closeAll()).
async function openIdle(port, count, first, { wave = 100, connectTimeoutMs = 10_000 } = {}) {
    const conns = [];
    for (let start = 0; start < count; start += wave) {
        const batch = Array.from({ length: Math.min(wave, count - start) }, () => {
            const conn = { socket: null, connectedAt: null, closedAt: null, error: null };
            conns.push(conn);
            return new Promise((resolve) => {
                const socket = net.connect({ host: '127.0.0.1', port });
                conn.socket = socket;
                const timer = setTimeout(() => {
                    conn.error = conn.error ?? 'connect timeout';
                    resolve();
                }, connectTimeoutMs);
                socket.on('connect', () => {
                    conn.connectedAt = Date.now();
                    if (first) socket.write(first);
                    clearTimeout(timer);
                    resolve();
                });
                socket.on('data', () => {}); // an answer (a 408, say) counts as nothing here
                socket.on('error', (error) => {
                    conn.error = error.code ?? error.message;
                });
                socket.on('close', () => {
                    conn.closedAt = Date.now();
                    clearTimeout(timer);
                    resolve();
                });
            });
        });
        await Promise.all(batch);
    }
    return conns;
}

function closeAll(conns) {
    for (const c of conns) c.socket?.destroy();
}

// Sockets a process holds (TCP and Unix: compare with a baseline).
function socketCount(pid) {
    let n = 0;
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
        try {
            if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
        } catch {
            // closed meanwhile
        }
    }
    return n;
}

const openCount = (conns) => conns.filter((c) => c.connectedAt !== null && c.closedAt === null).length;

// How many connections both this process and trackd can hold, leaving room for everything else.
function connectionBudget(trackdPid) {
    const limits = [openFilesLimit(), openFilesLimit(trackdPid)].filter((n) => n !== null);
    return Math.min(...limits) - 200;
}

describe('slow and idle clients', { timeout: 120_000 }, () => {
    const TIMEOUT_S = 2;
    const READ_TIMEOUT_S = 3;
    let trackd;

    before(async () => {
        trackd = await startTrackd({
            env: {
                TRACKD_CONNECTION_TIMEOUT: String(TIMEOUT_S),
                TRACKD_READ_TIMEOUT: String(READ_TIMEOUT_S),
                TRACKD_MAX_CONNECTIONS: '4000',
            },
        });
    });

    after(async () => {
        await trackd?.stop();
    });

    it('serves other clients promptly while 1500 connections idle or drip, and closes the idle ones', async (t) => {
        const budget = connectionBudget(trackd.pid);
        const idleCount = Math.min(1500, budget - 100);
        assert.ok(idleCount >= 500, `open-files limit too low for this test (budget ${budget}): raise ulimit -n`);
        if (idleCount < 1500) t.diagnostic(`only ${idleCount} idle connections (open-files limit)`);
        const auth = basic(trackd.workspace.write_key);

        // Drippers: a request that never ends, one byte a second.
        const dripText = 'POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Padding: ' + 'z'.repeat(200);
        const drippers = await openIdle(trackd.port, 50, dripText[0]);
        let dripAt = 1;
        const drip = setInterval(() => {
            for (const d of drippers) if (d.closedAt === null) d.socket.write(dripText[dripAt % dripText.length]);
            dripAt++;
        }, 1_000);
        let idle;
        try {
            const opened = Date.now();
            idle = await openIdle(trackd.port, idleCount, 'GET /heal');
            t.diagnostic(`${idleCount} idle connections opened in ${Date.now() - opened} ms`);
            assert.ok(idle.every((c) => c.connectedAt !== null), `every connection was accepted: ${idle.filter((c) => c.connectedAt === null).length} not`);

            // Other clients, each on a new connection, are served at once.
            const probes = [];
            for (let i = 0; i < 5; i++) {
                probes.push(await fresh(trackd.port, 'GET', '/healthz'));
                probes.push(
                    await fresh(trackd.port, 'POST', '/v1/track', {
                        auth,
                        body: { userId: 'probe', event: 'probe', messageId: `slow-probe-${i}` },
                    })
                );
            }
            const stillOpen = openCount(idle);
            t.diagnostic(`probes ${JSON.stringify(probes.map((p) => `${p.status}/${p.ms}ms`))} with ${stillOpen} idle connections open`);
            assert.ok(stillOpen >= idleCount / 2, `the probes ran while most idle connections were open (${stillOpen})`);
            for (const p of probes) {
                assert.equal(p.status, 200, `a probe was not served: ${JSON.stringify(p)}`);
                assert.ok(p.ms < 1_000, `a probe took ${p.ms} ms`);
            }

            // The idle connections are closed by the server after the timeout, not before.
            await waitFor(() => openCount(idle) === 0, { ms: (TIMEOUT_S + 8) * 1_000, what: 'every idle connection to be closed' }).catch(() => {});
            const lasted = idle.map((c) => (c.closedAt ?? Date.now()) - c.connectedAt).sort((a, b) => a - b);
            t.diagnostic(`idle connections lasted ${lasted[0]}..${lasted[lasted.length - 1]} ms (timeout ${TIMEOUT_S} s)`);
            assert.equal(openCount(idle), 0, `${openCount(idle)} idle connections still open ${TIMEOUT_S + 8} s on`);
            assert.ok(lasted[0] >= TIMEOUT_S * 1000 - 500, `an idle connection was closed after ${lasted[0]} ms only`);
            assert.ok(lasted[lasted.length - 1] <= TIMEOUT_S * 1000 + 5_000, `an idle connection lasted ${lasted[lasted.length - 1]} ms`);

            // The drippers are still there (or not): either way others are still served.
            const late = await fresh(trackd.port, 'GET', '/healthz');
            assert.equal(late.status, 200);
            assert.ok(late.ms < 1_000, `/healthz took ${late.ms} ms`);
            const rows = await trackd.query(`SELECT count(*)::int AS n FROM events WHERE message_id LIKE 'slow-probe-%'`);
            assert.deepEqual(rows, [{ n: 5 }]);
        } finally {
            clearInterval(drip);
            closeAll(drippers);
            if (idle) closeAll(idle);
        }
    });

    // One byte a second restarts the idle timeout every time: only a deadline for the whole
    // request ends these. Drippers of each part of a request: the request line, the headers (the
    // line sent at once), and the body (the headers sent at once).
    it('closes a connection that drips its request one byte a second', async (t) => {
        const auth = basic(trackd.workspace.write_key);
        const body = JSON.stringify({ userId: 'drip', event: 'drip', messageId: 'drip-1' }).padEnd(600, ' ');
        const kinds = [
            { name: 'request line', sent: '', drip: 'POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ' + 'z'.repeat(500) },
            { name: 'headers', sent: 'POST /v1/track HTTP/1.1\r\n', drip: 'Host: 127.0.0.1\r\nX-Padding: ' + 'z'.repeat(500) },
            {
                name: 'body',
                sent:
                    `POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${auth}\r\n` +
                    `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
                drip: body,
            },
        ];
        const drippers = [];
        for (const kind of kinds) {
            for (const c of await openIdle(trackd.port, 5, kind.sent + kind.drip[0])) drippers.push({ kind, conn: c });
        }
        let at = 1;
        const drip = setInterval(() => {
            for (const d of drippers) if (d.conn.closedAt === null) d.conn.socket.write(d.kind.drip[at % d.kind.drip.length]);
            at++;
        }, 1_000);
        try {
            // Others are served meanwhile.
            await sleep(1_000);
            const probe = await fresh(trackd.port, 'GET', '/healthz');
            assert.equal(probe.status, 200, `a probe while dripping: ${JSON.stringify(probe)}`);
            assert.equal(openCount(drippers.map((d) => d.conn)), drippers.length, 'no dripper was closed before its deadline');

            // A request must arrive whole within TRACKD_READ_TIMEOUT, however slowly it trickles in.
            await waitFor(() => openCount(drippers.map((d) => d.conn)) === 0, {
                ms: (READ_TIMEOUT_S + 8) * 1_000,
                what: 'the drippers to be closed',
            }).catch(() => {});
            const open = drippers.filter((d) => d.conn.closedAt === null).map((d) => d.kind.name);
            assert.deepEqual(open, [], `drippers still open ${READ_TIMEOUT_S + 8} s on`);
            const lasted = drippers.map((d) => d.conn.closedAt - d.conn.connectedAt).sort((a, b) => a - b);
            t.diagnostic(`drippers lasted ${lasted[0]}..${lasted[lasted.length - 1]} ms (read timeout ${READ_TIMEOUT_S} s)`);
            assert.ok(lasted[0] >= READ_TIMEOUT_S * 1000 - 500, `a dripper was closed after ${lasted[0]} ms only`);

            const after = await fresh(trackd.port, 'GET', '/healthz');
            assert.equal(after.status, 200);
            const rows = await trackd.query(`SELECT count(*)::int AS n FROM events WHERE message_id = 'drip-1'`);
            assert.deepEqual(rows, [{ n: 0 }], 'a request cut off is not stored');
        } finally {
            clearInterval(drip);
            closeAll(drippers.map((d) => d.conn));
        }
    });
});

describe('connection limit', { timeout: 60_000 }, () => {
    const LIMIT = 200;
    let trackd;

    before(async () => {
        trackd = await startTrackd({ env: { TRACKD_MAX_CONNECTIONS: String(LIMIT), TRACKD_CONNECTION_TIMEOUT: '30' } });
    });

    after(async () => {
        await trackd?.stop();
    });

    // A connection over the limit is closed by the server as soon as it is accepted (it is not
    // left waiting unanswered in the listen backlog); those held keep working; once slots are
    // freed, new clients are served again.
    it('refuses connections over TRACKD_MAX_CONNECTIONS at once while those held keep working', async (t) => {
        const extra = 100;
        const count = LIMIT + extra;
        assert.ok(connectionBudget(trackd.pid) > count, 'open-files limit too low for this test');
        const baseline = socketCount(trackd.pid);
        // The first LIMIT take every slot (each has sent the start of a request; the harness's own
        // keep-alive connection may hold one more for a few seconds)...
        const conns = await openIdle(trackd.port, LIMIT, 'GET /heal', { wave: 50 });
        try {
            await sleep(500);
            const kept = openCount(conns);
            assert.ok(kept >= LIMIT - 10, `only ${kept} connections kept: the limit refused early`);
            // ... then the next ones are closed by the server, promptly.
            const over = await openIdle(trackd.port, extra, 'GET /heal', { wave: 50 });
            conns.push(...over);
            await waitFor(() => over.every((c) => c.closedAt !== null || c.error !== null), {
                ms: 10_000,
                what: 'the connections over the limit to be closed',
            }).catch(() => {});
            const refused = over.filter((c) => c.closedAt !== null || c.error !== null);
            const slowest = Math.max(0, ...refused.map((c) => (c.closedAt ?? Date.now()) - (c.connectedAt ?? Date.now())));
            t.diagnostic(`${refused.length} of ${extra} connections over the limit refused, the slowest after ${slowest} ms`);
            assert.ok(refused.length >= extra - (LIMIT - kept), `${extra - refused.length} connections over the limit were kept`);
            assert.ok(openCount(conns) <= LIMIT, `${openCount(conns)} connections open, more than the limit ${LIMIT}`);
            assert.ok(slowest < 5_000, `a connection over the limit was closed only after ${slowest} ms`);
            const held = socketCount(trackd.pid) - baseline;
            t.diagnostic(`trackd holds ${held} connections (limit ${LIMIT})`);
            assert.ok(held <= LIMIT, `trackd holds ${held} connections, more than the limit ${LIMIT}`);
            assert.ok(held >= LIMIT - 10, `trackd holds only ${held} connections: the limit refused early`);
            assert.equal(openCount(conns.slice(0, LIMIT)), kept, 'the connections held were left alone');

            // A new client is refused at once too, not left hanging...
            const refusedClient = await fresh(trackd.port, 'GET', '/healthz', { timeoutMs: 10_000 });
            t.diagnostic(`a client at the limit: ${JSON.stringify(refusedClient)}`);
            assert.equal(refusedClient.status, 0, `served while at the limit: ${JSON.stringify(refusedClient)}`);
            assert.notEqual(refusedClient.error, 'TIMEOUT', 'a client at the limit was left hanging');

            // ... while a connection held finishes its request and is answered.
            const first = conns[0];
            const answer = new Promise((resolve) => {
                let text = '';
                first.socket.on('data', (chunk) => {
                    text += chunk.toString('latin1');
                    if (text.includes('\r\n\r\n')) resolve(text);
                });
                setTimeout(() => resolve(text), 5_000);
            });
            first.socket.write('thz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
            const text = await answer;
            assert.match(text, /^HTTP\/1\.1 200 /, `a connection held, completing its request: ${JSON.stringify(text.slice(0, 80))}`);

            // Once slots are freed, new clients are served.
            closeAll(conns.slice(1, 60));
            const served = await waitFor(
                async () => {
                    const r = await fresh(trackd.port, 'GET', '/healthz', { timeoutMs: 2_000 });
                    return r.status === 200 ? r : null;
                },
                { ms: 10_000, what: 'a new client to be served once slots were freed' }
            );
            assert.equal(served.status, 200);
        } finally {
            closeAll(conns);
        }
    });
});

describe('memory under large unfinished uploads', { timeout: 60_000 }, () => {
    let trackd;

    before(async () => {
        trackd = await startTrackd({ env: { TRACKD_QUEUE_MAX_REQUESTS: '64' } });
    });

    after(async () => {
        await trackd?.stop();
    });

    // 900 clients each declare a 450 KB batch (allowed: under the 500 KB limit) and send 400 KB
    // of it, then wait. Memory must stay bounded however many do so (spec §3, §8: 128 MB).
    it('keeps resident memory under 128 MB while 900 large uploads are in progress', async (t) => {
        const count = 900;
        assert.ok(connectionBudget(trackd.pid) > count, 'open-files limit too low for this test');
        const declared = 450_000;
        const head =
            `POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${basic(trackd.workspace.write_key)}\r\n` +
            `Content-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n`;
        const part = Buffer.concat([Buffer.from(head + '{"batch":['), Buffer.alloc(400_000, 0x20)]);
        const conns = await openIdle(trackd.port, count, part, { wave: 100 });
        try {
            let max = 0;
            for (let i = 0; i < 20; i++) {
                max = Math.max(max, rssKb(trackd.pid) ?? 0);
                await sleep(100);
            }
            t.diagnostic(`largest RSS ${max} kB with ${openCount(conns)} uploads in progress`);
            assert.ok(openCount(conns) >= count - 10, `only ${openCount(conns)} uploads were still in progress`);
            assert.ok(max < 128 * 1024, `resident memory reached ${max} kB`);

            // Meanwhile a further large upload is refused with 503 and Retry-After, not buffered;
            // requests without a body are served.
            const batch = { batch: Array.from({ length: 600 }, (_, i) => ({ type: 'track', userId: 'big', event: 'E', properties: { pad: 'p'.repeat(400), i } })) };
            const big = await call(`${trackd.baseUrl}/v1/batch`, { auth: basic(trackd.workspace.write_key), body: batch });
            t.diagnostic(`a ${JSON.stringify(batch).length}-byte upload meanwhile: ${big.status} ${big.body}`);
            assert.equal(big.status, 503, `a large upload meanwhile: ${JSON.stringify(big)}`);
            assert.ok(big.retryAfter, 'with Retry-After');
            const health = await fresh(trackd.port, 'GET', '/healthz');
            assert.equal(health.status, 200);
        } finally {
            closeAll(conns);
        }
    });
});
