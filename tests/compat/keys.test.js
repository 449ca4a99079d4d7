'use strict';
// Workspace keys: `trackd workspace rotate-keys` prints new keys that work at once, on a server
// already running; the old ones keep working through the grace period and are refused after
// it; `workspace list` shows each key's fingerprint, creation and last use, never a key.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { startTrackd, REPO_ROOT } = require('./harness');
const { sleep, basic, call } = require('./load');

const TRACKD_BIN = process.env.TRACKD_BIN || path.join(REPO_ROOT, 'build', 'trackd');

describe('workspace keys: rotation with a grace period', { timeout: 120_000 }, () => {
    let trackd;

    // Runs trackd on the test's database; resolves with {code, stdout, stderr}, never rejects.
    const cli = (args) =>
        new Promise((resolve) => {
            execFile(TRACKD_BIN, args, { env: trackd.env(), timeout: 30_000 }, (error, stdout, stderr) => {
                resolve({ code: error ? error.code : 0, stdout, stderr });
            });
        });
    const track = (writeKey, event) =>
        call(`${trackd.baseUrl}/v1/track`, { auth: basic(writeKey), body: { userId: 'u1', event } });
    const identify = (siteId, apiKey) =>
        call(`${trackd.baseUrl}/api/v1/customers/u1`, { method: 'PUT', auth: basic(siteId, apiKey), body: { plan: 'pro' } });
    const rotate = async (...args) => {
        const out = await cli(['workspace', 'rotate-keys', ...args]);
        assert.equal(out.code, 0, out.stderr);
        return JSON.parse(out.stdout);
    };

    before(async () => {
        trackd = await startTrackd();
    });

    after(async () => {
        await trackd?.stop();
    });

    it('refuses what it cannot do, with the usage exit code or a runtime failure', async () => {
        const unknown = await cli(['workspace', 'rotate-keys', 'no-such-workspace']);
        assert.equal(unknown.code, 1);
        assert.match(unknown.stderr, /no workspace 'no-such-workspace'/);
        for (const grace of ['1.5h', '-1h', '400d', 'soon']) {
            const bad = await cli(['workspace', 'rotate-keys', 'compat', '--grace', grace]);
            assert.equal(bad.code, 2, `--grace ${grace}`);
            assert.match(bad.stderr, /--grace/);
        }
        const noName = await cli(['workspace', 'rotate-keys', '--write']);
        assert.equal(noName.code, 2);
    });

    it('new keys work within a second, old ones through the grace period and not after it', async () => {
        const old = trackd.workspace;
        assert.equal((await track(old.write_key, 'before_rotation')).status, 200);
        assert.equal((await identify(old.site_id, old.api_key)).status, 200);

        const rotated = await rotate('compat', '--grace', '4s');
        const graceEnds = Date.now() + 4_000;
        assert.match(rotated.write_key, /^[0-9a-f]{40}$/);
        assert.match(rotated.api_key, /^[0-9a-f]{40}$/);
        assert.notEqual(rotated.write_key, old.write_key);
        assert.ok(rotated.old_keys_expire_at, JSON.stringify(rotated));

        // The running server learns the new keys from the database on their first use (an
        // unknown key reloads its directory at most once a second).
        await sleep(1_100);
        assert.equal((await track(rotated.write_key, 'new_key')).status, 200, trackd.serverOutput());
        assert.equal((await identify(trackd.workspace.site_id, rotated.api_key)).status, 200);
        // Within the grace period the old keys still work.
        assert.equal((await track(old.write_key, 'old_key_in_grace')).status, 200);
        assert.equal((await identify(old.site_id, old.api_key)).status, 200);

        // The server writes when keys were used as it next reloads its keys: an unknown key
        // makes it reload (at most once a second).
        await sleep(1_100);
        assert.equal((await track('0000000000000000000000000000000000000000', 'unknown_key')).status, 401);
        const list = await cli(['workspace', 'list']);
        assert.equal(list.code, 0, list.stderr);
        const lines = list.stdout.trim().split('\n').filter((line) => line.startsWith('compat\t'));
        assert.equal(lines.length, 4, list.stdout);
        assert.equal(lines.filter((line) => /\texpires_at=/.test(line)).length, 2, list.stdout);
        for (const line of lines) {
            assert.match(line, /\tkey=[0-9a-f]{12}\tcreated_at=\d{4}-/, line);
            assert.match(line, /\tlast_used_at=\d{4}-\d\d-\d\d \d\d:\d\d:00/, `every key was used: ${line}`);
        }
        for (const secret of [old.write_key, old.api_key, rotated.write_key, rotated.api_key]) {
            assert.ok(!list.stdout.includes(secret), 'workspace list never shows a key');
        }

        await sleep(Math.max(0, graceEnds - Date.now()) + 500);
        const late = await track(old.write_key, 'old_key_after_grace');
        assert.equal(late.status, 401, JSON.stringify(late));
        assert.equal((await identify(old.site_id, old.api_key)).status, 401);
        assert.equal((await track(rotated.write_key, 'new_key_after_grace')).status, 200);
        assert.equal((await identify(old.site_id, rotated.api_key)).status, 200);

        const [stored] = await trackd.query(
            "SELECT string_agg(name, ',' ORDER BY id) AS names FROM events WHERE name <> 'new_key_after_grace'",
        );
        assert.equal(stored.names, 'before_rotation,new_key,old_key_in_grace');
        const listed = await cli(['workspace', 'list']);
        assert.equal(listed.stdout.trim().split('\n').filter((l) => l.startsWith('compat\t')).length, 2);
    });

    it('rotates one kind alone, and --grace 0s ends the old key at once', async () => {
        const before = await rotate('compat', '--write', '--grace', '1h');
        assert.equal(before.api_key, undefined, 'only the write key was asked for');
        const now = await rotate('compat', '--write', '--grace', '0s');
        await sleep(1_100);
        assert.equal((await track(now.write_key, 'newest')).status, 200);
        assert.equal((await track(before.write_key, 'replaced')).status, 401);
        // The API key was not rotated: the one of the previous test still works.
        const [keys] = await trackd.query(
            "SELECT count(*) AS n FROM workspace_keys WHERE kind = 'api' AND expires_at IS NULL",
        );
        assert.equal(Number(keys.n), 1);
    });
});
