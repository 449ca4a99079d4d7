'use strict';
// Journeys end to end: a rule with steps (actions, waits, wait_until, branches) loaded with
// `trackd rules load`, events sent with customerio-node, the webhook targets a local receiver.
//   - an onboarding series takes every branch: the person who opened the app and bought, the
//     one who did neither, one who left (exit_on), one whose trigger event says "pro";
//   - admin_journey_steps counts people at each step, exits and conversions;
//   - kill -9 of the server while runs move, two `trackd worker` processes sharing the runs
//     with it (one of them killed too): every step done once, none skipped.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { PipelinesClient } = require('customerio-node');
const { startTrackd, sleep } = require('./harness');
const { Receiver } = require('./receiver');

const hook = (name, body = { user: '{{ person.id }}' }) => ({ action: { type: 'webhook', url: `RECEIVER/hooks/${name}`, body } });

const onboarding = {
    name: 'onboarding',
    trigger: { event: 'signed_up' },
    exit_on: [{ event: 'account_closed' }],
    goal: { event: 'purchase', within: '1h' },
    steps: [
        hook('welcome', { user: '{{ person.id }}', plan: '{{ event.plan }}' }),
        { wait: '2s' },
        {
            branch: {
                if: [{ field: 'journey.done', op: 'contains', value: 'app_opened' }],
                then: [hook('opened')],
                else: [hook('nudge')],
            },
        },
        { wait_until: { event: 'purchase', within: '3s' } },
        {
            branch: {
                if: [{ field: 'journey.done', op: 'contains', value: 'purchase' }],
                then: [{ action: { type: 'set_attributes', attributes: { buyer: true } } }],
                else: [
                    {
                        branch: {
                            if: [{ field: 'event.plan', op: 'eq', value: 'pro' }, { field: 'person.country', op: 'eq', value: 'FR' }],
                            then: [hook('reminder-pro-fr')],
                            else: [hook('reminder')],
                        },
                    },
                ],
            },
        },
    ],
};

const relay = {
    name: 'relay',
    trigger: { event: 'relay_start' },
    steps: [hook('relay-1'), { wait: '1s' }, hook('relay-2'), { wait: '1s' }, hook('relay-3')],
};

describe('journeys', { timeout: 180_000 }, () => {
    let trackd;
    let receiver;
    let rulesDir;
    let client;

    before(async () => {
        receiver = new Receiver();
        const base = await receiver.start();
        rulesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackd-journeys-'));
        for (const rule of [onboarding, relay]) {
            fs.writeFileSync(path.join(rulesDir, `${rule.name}.json`), JSON.stringify(rule).replaceAll('RECEIVER', base));
        }
        trackd = await startTrackd({ rules: [rulesDir], env: { TRACKD_RETRY_BASE: '1' } });
        client = new PipelinesClient(trackd.workspace.write_key, { url: `${trackd.baseUrl}/v1`, strictMode: true });
    });

    after(async () => {
        await trackd?.stop();
        await receiver?.stop();
        fs.rmSync(rulesDir, { recursive: true, force: true });
    });

    const hooksFor = (name, user) => receiver.to(`/hooks/${name}`).filter((r) => r.body.user === user);
    const runOf = async (user) =>
        (
            await trackd.query(
                `SELECT j.status, j.step_path, j.converted_at IS NOT NULL AS converted, j.end_reason
                   FROM journey_runs j JOIN people p ON p.id = j.person_id WHERE p.customer_id = '${user}'`,
            )
        )[0];
    const ended = (user) =>
        receiver.waitFor(async () => {
            const run = await runOf(user);
            return run && run.status !== 'active';
        }, 30_000, `the journey of ${user} to end`);

    it('takes every branch of a three-step onboarding series', async () => {
        await client.identify({ userId: 'ann', traits: { country: 'DE' } });
        await client.identify({ userId: 'bob', traits: { country: 'DE' } });
        await client.identify({ userId: 'cyd', traits: { country: 'FR' } });
        await client.identify({ userId: 'dee', traits: { country: 'FR' } });
        for (const [user, plan] of [['ann', 'free'], ['bob', 'free'], ['cyd', 'pro'], ['dee', 'free']]) {
            await client.track({ userId: user, event: 'signed_up', properties: { plan } });
        }
        await receiver.waitFor(async () => receiver.to('/hooks/welcome').length === 4, 15_000, 'four welcomes');
        assert.deepEqual(hooksFor('welcome', 'cyd').map((r) => r.body.plan), ['pro'], 'event.* of the trigger renders');
        await client.track({ userId: 'ann', event: 'app_opened', properties: {} });
        await client.track({ userId: 'dee', event: 'account_closed', properties: {} });

        // ann buys while waiting: the wait_until ends at once, and the goal counts.
        await receiver.waitFor(async () => hooksFor('opened', 'ann').length === 1, 15_000, 'ann on the opened branch');
        const boughtAt = Date.now();
        await client.track({ userId: 'ann', event: 'purchase', properties: {} });
        await ended('ann');
        assert.ok(Date.now() - boughtAt < 2500, 'the purchase moved the run on before its 3s wait ended');
        for (const user of ['bob', 'cyd', 'dee']) await ended(user);

        const ann = await runOf('ann');
        assert.deepEqual([ann.status, ann.converted], ['completed', true]);
        const [attrs] = await trackd.query(`SELECT attributes FROM people WHERE customer_id = 'ann'`);
        await receiver.waitFor(async () => {
            const [row] = await trackd.query(`SELECT attributes->>'buyer' AS buyer FROM people WHERE customer_id = 'ann'`);
            return row.buyer === 'true';
        }, 10_000, 'the set_attributes step');
        assert.ok(attrs);
        assert.equal(hooksFor('nudge', 'ann').length, 0);
        assert.equal(hooksFor('reminder', 'ann').length + hooksFor('reminder-pro-fr', 'ann').length, 0);

        assert.equal(hooksFor('nudge', 'bob').length, 1);
        assert.equal(hooksFor('reminder', 'bob').length, 1, 'bob: not pro, so the plain reminder');
        assert.equal((await runOf('bob')).status, 'completed');
        assert.equal(hooksFor('reminder-pro-fr', 'cyd').length, 1, 'cyd: pro and in France');
        assert.equal(hooksFor('reminder', 'cyd').length, 0);

        const dee = await runOf('dee');
        assert.equal(dee.status, 'exited');
        assert.match(dee.end_reason, /account_closed/);
        assert.equal(hooksFor('nudge', 'dee').length + hooksFor('opened', 'dee').length, 0, 'nothing after the exit');

        const steps = await trackd.query(
            `SELECT step_path, active, completed, exited, converted FROM admin_journey_steps WHERE rule = 'onboarding' ORDER BY step`,
        );
        const at = Object.fromEntries(steps.map((s) => [s.step_path, s]));
        assert.equal(Number(at.end.completed), 3);
        assert.equal(Number(at.end.converted), 1);
        assert.equal(Number(at['steps[1]'].exited), 1, 'dee left during the first wait');
    });

    it('an event done before the journey began does not count as done since', async () => {
        await client.identify({ userId: 'gus', traits: {} });
        await client.track({ userId: 'gus', event: 'app_opened', properties: {} });
        await client.track({ userId: 'gus', event: 'signed_up', properties: { plan: 'free' } });
        await receiver.waitFor(async () => hooksFor('nudge', 'gus').length === 1, 15_000, 'gus on the nudge branch');
        assert.equal(hooksFor('opened', 'gus').length, 0);
        await ended('gus');
    });

    it('a journey in progress: admin_journey_steps shows where people are', async () => {
        await client.identify({ userId: 'eve', traits: {} });
        await client.track({ userId: 'eve', event: 'signed_up', properties: { plan: 'free' } });
        await receiver.waitFor(async () => {
            const rows = await trackd.query(`SELECT active FROM admin_journey_steps WHERE rule = 'onboarding' AND step_path = 'steps[1]'`);
            return rows.length === 1 && Number(rows[0].active) === 1;
        }, 10_000, 'eve waiting at steps[1]');
        await ended('eve');
    });

    it('kill -9 while runs move, with two more workers sharing them: every step once, none skipped', async () => {
        const worker = () => spawn(process.env.TRACKD_BIN, ['worker'], { env: trackd.env({ TRACKD_LOG_LEVEL: 'warn' }), stdio: 'ignore' });
        const workers = [worker(), worker()];
        const people = Array.from({ length: 120 }, (_, i) => `k${i}`);
        try {
            await client.batch(people.flatMap((userId) => [
                { type: 'identify', userId, traits: {} },
                { type: 'track', userId, event: 'relay_start', properties: {} },
            ]));
            for (let round = 0; round < 4; round++) {
                await sleep(700);
                await trackd.signal('SIGKILL');
                if (round === 1) {
                    workers[0].kill('SIGKILL');
                    workers[0] = worker();
                }
                await trackd.serve();
            }
            client = new PipelinesClient(trackd.workspace.write_key, { url: `${trackd.baseUrl}/v1`, strictMode: true });
            await waitForRelays(people);
        } finally {
            for (const w of workers) w.kill('SIGTERM');
        }
    });

    async function waitForRelays(people) {
        await receiver.waitFor(async () => {
            const [row] = await trackd.query(
                `SELECT count(*) FILTER (WHERE status = 'completed') AS done, count(*) AS runs FROM journey_runs j JOIN rules r ON r.id = j.rule_id WHERE r.name = 'relay'`,
            );
            return Number(row.runs) === people.length && Number(row.done) === people.length;
        }, 60_000, 'every relay run to complete');
        const rows = await trackd.query(
            `SELECT d.journey_run_id, d.step, count(*) AS n, bool_and(d.status = 'sent') AS sent
               FROM deliveries d JOIN rules r ON r.id = d.rule_id WHERE r.name = 'relay'
              GROUP BY 1, 2`,
        );
        assert.equal(rows.length, people.length * 3, 'three action steps per run, each written');
        assert.ok(rows.every((r) => Number(r.n) === 1), 'no step written twice');
        await receiver.waitFor(async () => {
            const [row] = await trackd.query(
                `SELECT count(*) FILTER (WHERE status <> 'sent') AS unsent FROM deliveries d JOIN rules r ON r.id = d.rule_id WHERE r.name = 'relay'`,
            );
            return Number(row.unsent) === 0;
        }, 30_000, 'every relay delivery sent');
        for (const n of [1, 2, 3]) {
            const users = new Set(receiver.to(`/hooks/relay-${n}`).map((r) => r.body.user));
            assert.equal(users.size, people.length, `relay-${n} reached everyone`);
        }
        // Order holds for each person: step 2 went out after step 1, step 3 after step 2.
        const first = (n, user) => receiver.to(`/hooks/relay-${n}`).find((r) => r.body.user === user).at;
        for (const user of people.slice(0, 20)) {
            assert.ok(first(1, user) <= first(2, user) && first(2, user) <= first(3, user), `order for ${user}`);
        }
    }
});
