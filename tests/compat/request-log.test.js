'use strict';
// The request log at the default level: one line per request, except answered health checks,
// which orchestrators send every few seconds (Docker's HEALTHCHECK, load balancers) and which
// are logged only at debug.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startTrackd } = require('./harness');
const { sleep, basic, call } = require('./load');

describe('request log', { timeout: 60_000 }, () => {
    let trackd;

    before(async () => {
        trackd = await startTrackd({ logLevel: 'info', transcript: true });
    });

    after(async () => {
        await trackd?.stop();
    });

    it('logs calls at info and answered health checks only at debug', async () => {
        for (let i = 0; i < 3; i++) {
            assert.equal((await call(`${trackd.baseUrl}/healthz`, { method: 'GET' })).status, 200);
            assert.equal((await call(`${trackd.baseUrl}/readyz`, { method: 'GET' })).status, 200);
        }
        const track = await call(`${trackd.baseUrl}/v1/track`, {
            auth: basic(trackd.workspace.write_key),
            body: { userId: 'u1', event: 'logged' },
        });
        assert.equal(track.status, 200);
        assert.equal((await call(`${trackd.baseUrl}/no-such-path`, { method: 'GET' })).status, 404);
        await sleep(300);
        const lines = trackd.transcript.split('\n');
        assert.ok(lines.some((l) => /info +http: POST \/v1\/track 200 /.test(l)), trackd.transcript);
        assert.ok(lines.some((l) => /info +http: GET - 404 /.test(l)), trackd.transcript);
        assert.ok(!lines.some((l) => /\/healthz|\/readyz/.test(l)), trackd.transcript);
    });
});
