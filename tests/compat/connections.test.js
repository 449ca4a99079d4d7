'use strict';
// Slow and idle clients (issue 7, item 5): hundreds to thousands of TCP connections that send a
// partial request and then nothing, or drip one byte a second, must not keep other clients from
// being served; idle connections are closed after TRACKD_CONNECTION_TIMEOUT; the connection limit
// (TRACKD_MAX_CONNECTIONS) holds, and a slot freed later serves a normal request again. Also the
// memory a crowd of large unfinished uploads may hold (issue 7, item 4).
//
// The counts are kept below the open-files limit of this process and of trackd (checked at run
// time); every loop is bounded in count and time; everything stays on 127.0.0.1.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const { startTrackd } = require('./harness');
const { sleep, basic, fresh, openFilesLimit, rssKb, waitFor } = require('./load');

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
    let trackd;

    before(async () => {
        trackd = await startTrackd({
            env: { TRACKD_CONNECTION_TIMEOUT: String(TIMEOUT_S), TRACKD_MAX_CONNECTIONS: '4000' },
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

    it('closes a connection that drips its request one byte a second', { todo: 'no read timeout: see the report' }, async (t) => {
        const dripText = 'POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ' + 'z'.repeat(500);
        const drippers = await openIdle(trackd.port, 5, dripText[0]);
        let at = 1;
        const drip = setInterval(() => {
            for (const d of drippers) if (d.closedAt === null) d.socket.write(dripText[at % dripText.length]);
            at++;
        }, 1_000);
        try {
            // A request must arrive within some seconds, however slowly it trickles in.
            await waitFor(() => openCount(drippers) === 0, { ms: (TIMEOUT_S * 2 + 2) * 1_000, what: 'the drippers to be closed' });
        } finally {
            clearInterval(drip);
            closeAll(drippers);
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

    // libmicrohttpd stops accepting at the limit: further connections wait in the kernel's
    // listen backlog (connected, as a client sees it, but not served) until a slot is free.
    it('holds at most TRACKD_MAX_CONNECTIONS and serves a waiting client once a slot is free', async (t) => {
        const count = LIMIT + 100;
        assert.ok(connectionBudget(trackd.pid) > count, 'open-files limit too low for this test');
        const baseline = socketCount(trackd.pid);
        const conns = await openIdle(trackd.port, count, 'GET /heal', { wave: 50 });
        try {
            await sleep(500);
            const held = socketCount(trackd.pid) - baseline;
            t.diagnostic(`trackd holds ${held} of ${count} connections (limit ${LIMIT}); ${openCount(conns)} open as the clients see it`);
            assert.ok(held <= LIMIT, `trackd holds ${held} connections, more than the limit ${LIMIT}`);
            assert.ok(held >= LIMIT - 10, `trackd holds only ${held} connections: the limit refused early`);

            // While every slot is taken, a new client is not served...
            let answered = null;
            const waiting = fresh(trackd.port, 'GET', '/healthz', { timeoutMs: 10_000 }).then((r) => (answered = r));
            await sleep(1_500);
            assert.equal(answered, null, `answered while at the limit: ${JSON.stringify(answered)}`);

            // ... until slots are freed: then it is.
            closeAll(conns.slice(0, count - LIMIT + 50));
            const freed = Date.now();
            const served = await waiting;
            t.diagnostic(`the waiting client was served ${Date.now() - freed} ms after slots were freed`);
            assert.equal(served.status, 200, `the waiting client: ${JSON.stringify(served)}`);
            const again = await fresh(trackd.port, 'GET', '/healthz', { timeoutMs: 2_000 });
            assert.equal(again.status, 200);
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
    it('keeps resident memory under 128 MB while 900 large uploads are in progress', { todo: 'bodies are buffered before admission: see the report' }, async (t) => {
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
            assert.ok(max < 128 * 1024, `resident memory reached ${max} kB`);
        } finally {
            closeAll(conns);
        }
    });
});
