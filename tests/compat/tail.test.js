'use strict';
// `trackd tail`: a live view of calls as they are committed. Real calls (Pipelines, Track v1,
// a refused one, a batch with one bad item) appear once each, in JSON with --json and as
// readable lines without; the filters narrow them; a tail survives a restart of PostgreSQL and
// shows what was committed after it.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { startTrackd, PrivateCluster, REPO_ROOT } = require('./harness');
const { sleep, basic, call, waitFor } = require('./load');

const TRACKD_BIN = process.env.TRACKD_BIN || path.join(REPO_ROOT, 'build', 'trackd');

// A `trackd tail` with `args`: its stdout lines and stderr text as they come.
class Tail {
    constructor(env, args) {
        this.lines = [];
        this.stderr = '';
        this.child = spawn(TRACKD_BIN, ['tail', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        let partial = '';
        this.child.stdout.on('data', (chunk) => {
            const parts = (partial + chunk.toString()).split('\n');
            partial = parts.pop();
            this.lines.push(...parts);
        });
        this.child.stderr.on('data', (chunk) => {
            this.stderr += chunk.toString();
        });
        this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
    }

    // Resolves once the tail is listening and the writers have noticed it (they ask once a second).
    async ready() {
        await waitFor(async () => this.stderr.includes('showing calls'), { ms: 10_000, everyMs: 50, what: 'the tail to start' });
        await sleep(1_500);
    }

    json() {
        return this.lines.map((line) => JSON.parse(line));
    }

    async stop() {
        this.child.kill('SIGINT');
        return this.exited;
    }
}

describe('trackd tail', { timeout: 150_000 }, () => {
    let dir;
    let cluster;
    let trackd;
    const tails = [];

    const pipelines = (endpoint, body) =>
        call(`${trackd.baseUrl}/v1/${endpoint}`, { auth: basic(trackd.workspace.write_key), body });
    const startTail = async (...args) => {
        const tail = new Tail(trackd.env(), args);
        tails.push(tail);
        await tail.ready();
        return tail;
    };

    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackd-tail-'));
        cluster = new PrivateCluster(dir);
        const url = await cluster.start();
        trackd = await startTrackd({ databaseUrl: url, workspaces: ['other'] });
    });

    after(async () => {
        for (const tail of tails) tail.child.kill('SIGKILL');
        try {
            if (trackd) {
                await cluster.start().catch(() => {});
                await trackd.stop();
            }
        } finally {
            await cluster?.destroy();
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it('shows each committed call once, refused ones with their reasons, and stops on SIGINT', async () => {
        const all = await startTail('--json');
        const text = await startTail();
        const onlyRejected = await startTail('--rejected', '--json');
        const filtered = await startTail('--json', '--workspace', 'compat', '--person', 'u-tail', '--event', 'purchase');

        assert.equal((await pipelines('track', { userId: 'u-tail', event: 'purchase', properties: { price: 4.99 } })).status, 200);
        assert.equal((await pipelines('track', { userId: 'someone-else', event: 'purchase' })).status, 200);
        assert.equal((await pipelines('identify', { userId: 'u-tail', traits: { email: 'tail@example.com' } })).status, 200);
        assert.equal((await pipelines('page', { anonymousId: 'anon-tail', name: 'Home' })).status, 200);
        const v1 = await call(`${trackd.baseUrl}/api/v1/customers/u-tail/events`, {
            auth: basic(trackd.workspace.site_id, trackd.workspace.api_key),
            body: { name: 'purchase', data: { sku: 'sock' } },
        });
        assert.equal(v1.status, 200);
        assert.equal((await pipelines('track', { userId: 'u-tail', event: 42 })).status, 400);
        const batch = await pipelines('batch', {
            batch: [
                { type: 'track', userId: 'u-tail', event: 'in_batch' },
                { type: 'track', userId: 'u-tail', properties: {} },
            ],
        });
        assert.equal(batch.status, 207);
        const other = trackd.workspaces.other;
        assert.equal((await call(`${trackd.baseUrl}/v1/track`, { auth: basic(other.write_key), body: { userId: 'u-tail', event: 'purchase' } })).status, 200);

        await waitFor(async () => all.lines.length >= 9, { ms: 10_000, everyMs: 100, what: `9 calls in the tail: ${all.lines.join("\n")}` });
        await sleep(1_000); // nothing more should come
        const calls = all.json();
        const summary = calls.map((c) => `${c.workspace} ${c.type} ${c.person ?? c.anonymous_id ?? '-'} ${c.name ?? c.reason}`);
        assert.deepEqual(summary, [
            'compat track u-tail purchase',
            'compat track someone-else purchase',
            'compat identify u-tail null',
            'compat page anon-tail Home',
            'compat track u-tail purchase',
            'compat rejected - invalid_field',
            'compat track u-tail in_batch',
            'compat rejected - invalid_field',
            'other track u-tail purchase',
        ], JSON.stringify(calls, null, 1));
        assert.deepEqual(calls[0].detail, { price: 4.99 });
        assert.equal(calls[0].endpoint, '/v1/track');
        assert.match(calls[0].received_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}/);
        assert.deepEqual(calls[2].detail, { email: 'tail@example.com' });
        assert.equal(calls[4].endpoint, '/api/v1/customers/{}/events');
        assert.match(calls[5].message, /event/);
        assert.match(calls[7].message, /event/);

        assert.deepEqual(onlyRejected.json().map((c) => c.type), ['rejected', 'rejected']);
        const narrowed = filtered.json();
        assert.deepEqual(narrowed.map((c) => `${c.workspace} ${c.person} ${c.name}`), [
            'compat u-tail purchase',
            'compat u-tail purchase',
        ]);

        // Without --json: one readable line per call, no colours when not on a terminal.
        assert.equal(text.lines.length, 9, text.lines.join('\n'));
        assert.match(text.lines[0], /^\d\d:\d\d:\d\d\.\d{3} compat track +u-tail purchase \{"price": 4\.99\} \/v1\/track$/);
        assert.match(text.lines[3], /page +anon-tail \(anonymous\) Home/);
        assert.match(text.lines[5], /rejected +\/v1\/track invalid_field: .*event/);
        assert.ok(!text.lines.join('').includes('\u001b['), 'no escape codes into a pipe');

        for (const tail of [all, text, onlyRejected, filtered]) {
            assert.equal(await tail.stop(), 0, tail.stderr);
        }
    });

    it('shows what clients send as text, never as terminal controls', async () => {
        const text = await startTail('--person', 'u\u202eevil');
        const sent = await pipelines('track', {
            userId: 'u\u202eevil',
            event: 'clear\u001b[2Jscreen\u0007',
            properties: { note: 'bell\u0007 c1\u009b del\u007f' },
        });
        assert.equal(sent.status, 200, JSON.stringify(sent));
        await waitFor(async () => text.lines.length >= 1, { ms: 10_000, everyMs: 100, what: 'the line' });
        const line = text.lines[0];
        assert.ok(!/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(line), JSON.stringify(line));
        assert.match(line, /u\\u\{202e\}evil clear\\x1b\[2Jscreen\\x07 /);
        assert.match(line, /c1\\x9b del\\x7f/);
        assert.equal(await text.stop(), 0);
    });

    it('refuses an unknown workspace and bad arguments', async () => {
        const unknown = new Tail(trackd.env(), ['--workspace', 'nope']);
        assert.equal(await unknown.exited, 1);
        assert.match(unknown.stderr, /no workspace 'nope'/);
        const bad = new Tail(trackd.env(), ['--colour']);
        assert.equal(await bad.exited, 2);
    });

    it('survives a restart of PostgreSQL and shows what was committed after it', async () => {
        const tail = await startTail('--json');
        assert.equal((await pipelines('track', { userId: 'u-restart', event: 'before_restart' })).status, 200);
        await waitFor(async () => tail.lines.length >= 1, { ms: 10_000, everyMs: 100, what: 'the first call' });

        await cluster.stop();
        await waitFor(async () => tail.stderr.includes('reconnecting'), { ms: 10_000, everyMs: 100, what: 'the tail to notice' });
        await cluster.start();
        await waitFor(async () => tail.stderr.includes('reconnected'), { ms: 20_000, everyMs: 100, what: 'the tail to reconnect' });
        await waitFor(async () => (await call(`${trackd.baseUrl}/readyz`, { method: 'GET' })).status === 200, {
            ms: 20_000,
            everyMs: 200,
            what: 'trackd to be ready again',
        });
        await sleep(1_500); // the writers ask again whether a tail listens
        assert.equal((await pipelines('track', { userId: 'u-restart', event: 'after_restart' })).status, 200);
        await waitFor(async () => tail.lines.length >= 2, { ms: 10_000, everyMs: 100, what: `the call after the restart: ${tail.stderr}` });
        assert.deepEqual(tail.json().map((c) => c.name), ['before_restart', 'after_restart']);
        assert.equal(await tail.stop(), 0);
    });
});
