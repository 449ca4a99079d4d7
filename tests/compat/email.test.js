'use strict';
// Email over SMTP, end to end: rules with email actions (and a journey of two emails) loaded
// with `trackd rules load`, events sent with customerio-node, and a local SMTP stand-in
// (smtp_standin.js) that offers STARTTLS with a test CA and asks for a login. Checked:
//   - the message as received: STARTTLS and AUTH used, headers (From, To, an RFC 2047
//     Subject, Date, Message-ID, List-Unsubscribe and List-Unsubscribe-Post),
//     multipart/alternative with quoted-printable UTF-8 parts, no line over 998 bytes;
//   - the unsubscribe link: the page, the one-click POST, a forged or altered token refused;
//   - a 4xx reply is retried, a 5xx reply makes the delivery dead with the server's words;
//   - people who unsubscribed, suppressed addresses and people without an email get nothing;
//     a journey's later email is skipped once the person unsubscribed through the first.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { PipelinesClient, TrackClient } = require('customerio-node');
const { startTrackd } = require('./harness');
const { makeTlsMaterial } = require('./tls');
const { SmtpStandin, decodeWords } = require('./smtp_standin');

const PUBLIC_URL = 'https://track.example.test/';

const rules = [
    {
        name: 'welcome-email',
        trigger: { event: 'signed_up' },
        action: {
            type: 'email',
            subject: 'Grüße, {{ customer.first_name }} 👋 — willkommen bei uns, schön dass du da bist',
            html: '<html><body><p>Hallo {{ customer.first_name | escape }} &amp; co = 100%</p><p><a href="{{ unsubscribe_url }}">Abmelden</a></p></body></html>',
            text: 'Hallo {{ customer.first_name }},\nWillkommen! Preis = 5€.\n.a line starting with a dot\n',
        },
    },
    {
        name: 'refer-email',
        trigger: { event: 'refer' },
        action: { type: 'email', to: '{{ event.friend }}', subject: 'A friend invited you', text: 'Join us.' },
    },
    {
        name: 'series',
        trigger: { event: 'series_start' },
        steps: [
            { action: { type: 'email', subject: 'First of two', text: 'one' } },
            { wait: '3s' },
            { action: { type: 'email', subject: 'Second of two', text: 'two' } },
        ],
    },
];

describe('email over SMTP', { timeout: 180_000 }, () => {
    let trackd;
    let smtp;
    let tlsDir;
    let rulesDir;
    let client;
    let track;

    before(async () => {
        tlsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackd-email-tls-'));
        const tls = makeTlsMaterial(tlsDir);
        smtp = new SmtpStandin({
            tls: { certPem: fs.readFileSync(tls.server.cert), keyPem: fs.readFileSync(tls.server.key) },
            requireAuth: { user: 'mailer', pass: 's3cret pass' },
        });
        await smtp.start();
        rulesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackd-email-rules-'));
        for (const rule of rules) fs.writeFileSync(path.join(rulesDir, `${rule.name}.json`), JSON.stringify(rule));
        trackd = await startTrackd({
            rules: [rulesDir],
            transcript: true,
            env: {
                TRACKD_SMTP_URL: `smtp://localhost:${smtp.port}`,
                TRACKD_SMTP_TLS: 'required',
                TRACKD_SMTP_USER: 'mailer',
                TRACKD_SMTP_PASSWORD: 's3cret pass',
                TRACKD_EMAIL_FROM: '"Trackd Tëst" <news@example.com>',
                TRACKD_PUBLIC_URL: PUBLIC_URL,
                TRACKD_CA_FILE: tls.caFile,
                TRACKD_RETRY_BASE: '1',
            },
        });
        client = new PipelinesClient(trackd.workspace.write_key, { url: `${trackd.baseUrl}/v1`, strictMode: true });
        track = new TrackClient(trackd.workspace.site_id, trackd.workspace.api_key, { url: `${trackd.baseUrl}/api/v1` });
    });

    after(async () => {
        await trackd?.stop();
        await smtp?.stop();
        if (tlsDir) fs.rmSync(tlsDir, { recursive: true, force: true });
        if (rulesDir) fs.rmSync(rulesDir, { recursive: true, force: true });
    });

    const deliveries = (rule) =>
        trackd.query(
            `SELECT d.id, d.public_id, d.status, d.attempts, d.last_error, d.action->>'to' AS "to", d.step
               FROM deliveries d JOIN rules r ON r.id = d.rule_id WHERE r.name = '${rule}' ORDER BY d.id`,
        );
    const settled = (rule, count, statuses) =>
        smtp.constructor === SmtpStandin &&
        waitUntil(async () => {
            const rows = await deliveries(rule);
            return rows.length === count && rows.every((r) => statuses.includes(r.status));
        }, `${count} deliveries of ${rule} to be ${statuses}`);
    async function waitUntil(predicate, what, ms = 20_000) {
        const deadline = Date.now() + ms;
        while (Date.now() < deadline) {
            if (await predicate()) return;
            await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`timed out waiting for ${what}`);
    }
    const messagesTo = (address) => smtp.messages.filter((m) => m.rcpt.includes(address));
    // The public link, pointed at the test's server.
    const local = (url) => url.replace(PUBLIC_URL.replace(/\/$/, ''), trackd.baseUrl);

    it('sends a multipart message over STARTTLS with the headers a mail client needs', async () => {
        await client.identify({ userId: 'anna', traits: { email: 'anna@example.org', first_name: 'Anna <B>' } });
        await client.track({ userId: 'anna', event: 'signed_up', properties: {} });
        await settled('welcome-email', 1, ['sent']);
        const [message] = messagesTo('anna@example.org');
        assert.ok(message, 'the stand-in received it');
        assert.equal(message.tls, true, 'STARTTLS before the message');
        assert.deepEqual(message.auth, { user: 'mailer', pass: 's3cret pass' });
        assert.equal(message.from, 'news@example.com');
        const m = message.parsed;
        assert.deepEqual(m.lineIssues, []);
        assert.equal(decodeWords(m.header('From')), 'Trackd Tëst <news@example.com>');
        assert.equal(m.header('To'), 'anna@example.org');
        assert.equal(decodeWords(m.header('Subject')), 'Grüße, Anna <B> 👋 — willkommen bei uns, schön dass du da bist');
        assert.match(m.header('Subject'), /^=\?UTF-8\?[BQ]\?/i, 'the subject is RFC 2047 encoded');
        assert.ok(!Number.isNaN(Date.parse(m.header('Date'))));
        const [delivery] = await deliveries('welcome-email');
        assert.match(m.header('Message-ID'), new RegExp(`^<${delivery.id}\\.[0-9a-f]{16}\\.trackd@example\\.com>$`));
        assert.equal(m.header('X-Trackd-Delivery'), String(delivery.id));
        assert.ok(!message.data.split('\r\n\r\n')[0].replace(/List-Unsubscribe: [^\r]*/, '').includes(delivery.public_id),
            'the public id appears only in the signed link');
        assert.equal(m.header('List-Unsubscribe-Post'), 'List-Unsubscribe=One-Click');
        const link = m.header('List-Unsubscribe').replace(/^<|>$/g, '');
        assert.ok(link.startsWith(`${PUBLIC_URL}unsubscribe/${delivery.public_id}.`), link);
        assert.equal(m.contentType.type, 'multipart/alternative');
        assert.deepEqual(m.parts.map((p) => p.contentType.type), ['text/plain', 'text/html']);
        for (const part of m.parts) {
            assert.equal(part.header('Content-Transfer-Encoding').toLowerCase(), 'quoted-printable');
            assert.match(part.header('Content-Type'), /charset="?utf-8"?/i);
        }
        const text = m.parts[0].body.replace(/\r\n/g, '\n');
        assert.ok(text.startsWith('Hallo Anna <B>,\nWillkommen! Preis = 5€.\n.a line starting with a dot\n'), text);
        assert.ok(text.includes(link), 'the text part, without the link in its template, gets a footer with it');
        const html = m.parts[1].body;
        assert.ok(html.includes('Hallo Anna &lt;B&gt; &amp; co = 100%'), html);
        assert.ok(html.includes(`<a href="${link}">Abmelden</a>`), 'unsubscribe_url renders the signed link');
    });

    it('the link shows a page, unsubscribes on POST, and refuses a forged token', async () => {
        const [message] = messagesTo('anna@example.org');
        const link = local(message.parsed.header('List-Unsubscribe').replace(/^<|>$/g, ''));
        const page = await fetch(link);
        assert.equal(page.status, 200);
        assert.match(page.headers.get('content-type'), /text\/html/);
        assert.match(await page.text(), /<form method="post"/);
        const attrs = async () => (await trackd.query(`SELECT attributes FROM people WHERE customer_id = 'anna'`))[0].attributes;
        assert.equal((await attrs()).unsubscribed, undefined, 'GET changes nothing');

        const [id, signature] = link.split('/').pop().split('.');
        const flipped = signature.slice(0, -1) + (signature.endsWith('A') ? 'B' : 'A');
        for (const bad of [`${id}.${flipped}`, `${id}.`, `${id}.AAAAAAAAAAAAAAAAAAAAAA`, `x${id.slice(1)}.${signature}`]) {
            const refused = await fetch(`${trackd.baseUrl}/unsubscribe/${bad}`, {
                method: 'POST',
                headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
                body: 'List-Unsubscribe=One-Click',
            });
            assert.equal(refused.status, 404, bad);
        }
        assert.equal((await attrs()).unsubscribed, undefined, 'a forged token changes nothing');
        const forgedPage = await fetch(`${trackd.baseUrl}/unsubscribe/${id}.${flipped}`);
        assert.equal(forgedPage.status, 404, 'a forged token gets no page');
        // Customer.io's unsigned call with the email's public id alone: refused for emails.
        const unsigned = await fetch(`${trackd.baseUrl}/unsubscribe/${id}`, {
            method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"unsubscribe":true}',
        });
        assert.equal(unsigned.status, 200);
        assert.equal((await attrs()).unsubscribed, undefined, 'the public id alone changes nothing');

        const oneClick = await fetch(link, {
            method: 'POST',
            headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
            body: 'List-Unsubscribe=One-Click',
        });
        assert.equal(oneClick.status, 200);
        assert.match(await oneClick.text(), /unsubscribed/);
        assert.equal((await attrs()).unsubscribed, true);
        const [metric] = await trackd.query(
            `SELECT m.metric FROM delivery_metrics m JOIN deliveries d ON d.id = m.delivery_ref WHERE d.public_id = '${id}'`,
        );
        assert.equal(metric.metric, 'unsubscribed');

        await client.track({ userId: 'anna', event: 'signed_up', properties: {} });
        await settled('welcome-email', 2, ['sent', 'skipped']);
        const rows = await deliveries('welcome-email');
        assert.equal(rows[1].last_error, 'the person is unsubscribed');
        assert.equal(messagesTo('anna@example.org').length, 1);
    });

    it('retries after a 4xx reply and gives up on a 5xx, keeping the server\'s words', async () => {
        smtp.failNext(1, { at: 'RCPT', code: 451, text: '4.3.0 greylisted, try later' });
        await client.identify({ userId: 'ben', traits: { email: 'ben@example.org', first_name: 'Ben' } });
        await client.track({ userId: 'ben', event: 'signed_up', properties: {} });
        await waitUntil(async () => (await deliveries('welcome-email')).some((r) => r.to === 'ben@example.org' && r.status === 'sent'), 'ben\'s email to be sent after a retry');
        const ben = (await deliveries('welcome-email')).find((r) => r.to === 'ben@example.org');
        assert.equal(ben.attempts, 2);
        assert.equal(messagesTo('ben@example.org').length, 1);

        smtp.failNext(1, { at: 'RCPT', code: 550, text: '5.1.1 no such mailbox' });
        await client.identify({ userId: 'cat', traits: { email: 'cat@example.org', first_name: 'Cat' } });
        await client.track({ userId: 'cat', event: 'signed_up', properties: {} });
        await waitUntil(async () => (await deliveries('welcome-email')).some((r) => r.to === 'cat@example.org' && r.status === 'dead'), 'cat\'s email to be dead');
        const cat = (await deliveries('welcome-email')).find((r) => r.to === 'cat@example.org');
        assert.equal(cat.attempts, 1);
        assert.match(cat.last_error, /550 5\.1\.1 no such mailbox/);
        const [dead] = await trackd.query(`SELECT count(*) AS n FROM admin_dead_deliveries`);
        assert.ok(Number(dead.n) >= 1);
        assert.ok(!trackd.transcript.includes('s3cret'), 'the password is never logged');
    });

    it('nothing for people without an email, nor for suppressed addresses', async () => {
        await client.identify({ userId: 'dan', traits: { first_name: 'Dan' } });
        await client.track({ userId: 'dan', event: 'signed_up', properties: {} });
        await waitUntil(async () => (await deliveries('welcome-email')).some((r) => r.last_error === 'the person has no email address'), 'a skipped email');

        await client.identify({ userId: 'gone', traits: { email: 'Gone@Example.org' } });
        await track.suppress('gone');
        await client.identify({ userId: 'eve', traits: { email: 'eve@example.org' } });
        await client.track({ userId: 'eve', event: 'refer', properties: { friend: 'gone@example.org' } });
        await client.track({ userId: 'eve', event: 'refer', properties: { friend: 'Gone Friend <GONE@example.org>' } });
        await client.track({ userId: 'eve', event: 'refer', properties: { friend: 'not an address' } });
        await settled('refer-email', 3, ['skipped', 'dead']);
        const [suppressed, named, invalid] = await deliveries('refer-email');
        assert.equal(suppressed.last_error, 'the address is suppressed');
        assert.equal(named.last_error, 'the address is suppressed', 'with a display name too');
        assert.match(invalid.last_error, /action\.to is not one email address/);
        assert.equal(messagesTo('gone@example.org').length, 0);
    });

    it('a journey\'s later email is skipped once the person unsubscribed through the first', async () => {
        await client.identify({ userId: 'fay', traits: { email: 'fay@example.org' } });
        await client.track({ userId: 'fay', event: 'series_start', properties: {} });
        await smtp.waitFor(smtp.messages.length + 1, 15_000);
        const first = messagesTo('fay@example.org');
        assert.equal(first.length, 1);
        assert.equal(first[0].parsed.header('Subject'), 'First of two');
        const link = local(first[0].parsed.header('List-Unsubscribe').replace(/^<|>$/g, ''));
        const form = await fetch(link, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: '' });
        assert.equal(form.status, 200);
        await settled('series', 2, ['sent', 'skipped']);
        const rows = await deliveries('series');
        assert.deepEqual(rows.map((r) => [r.step, r.status]), [[0, 'sent'], [2, 'skipped']]);
        assert.equal(messagesTo('fay@example.org').length, 1);
    });
});

// The two other ways to reach a mail server: smtps:// (TLS from the first byte), and smtp://
// to a server that offers no STARTTLS, refused when TRACKD_SMTP_TLS=required and used plain
// when opportunistic.
describe('email: smtps://, and a server without STARTTLS', { timeout: 120_000 }, () => {
    let trackd;
    let tlsDir;
    let rulesDir;
    let client;
    let implicit;
    let plain;

    before(async () => {
        tlsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackd-email-tls2-'));
        const tls = makeTlsMaterial(tlsDir);
        const material = { certPem: fs.readFileSync(tls.server.cert), keyPem: fs.readFileSync(tls.server.key) };
        implicit = new SmtpStandin({ tls: material, implicitTls: true });
        plain = new SmtpStandin({});
        await implicit.start();
        await plain.start();
        rulesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trackd-email-rules2-'));
        fs.writeFileSync(path.join(rulesDir, 'hello.json'), JSON.stringify({
            name: 'hello', trigger: { event: 'hello' }, action: { type: 'email', subject: 'Hello', text: 'hi' },
        }));
        trackd = await startTrackd({
            rules: [rulesDir],
            env: {
                TRACKD_SMTP_URL: `smtps://localhost:${implicit.port}`,
                TRACKD_EMAIL_FROM: 'news@example.com',
                TRACKD_PUBLIC_URL: PUBLIC_URL,
                TRACKD_CA_FILE: tls.caFile,
                TRACKD_RETRY_BASE: '1',
            },
        });
        client = new PipelinesClient(trackd.workspace.write_key, { url: `${trackd.baseUrl}/v1`, strictMode: true });
    });

    after(async () => {
        await trackd?.stop();
        await implicit?.stop();
        await plain?.stop();
        if (tlsDir) fs.rmSync(tlsDir, { recursive: true, force: true });
        if (rulesDir) fs.rmSync(rulesDir, { recursive: true, force: true });
    });

    const statusOf = async (user) =>
        (await trackd.query(
            `SELECT d.status, d.last_error, d.attempts FROM deliveries d JOIN people p ON p.id = d.person_id WHERE p.customer_id = '${user}'`,
        ))[0];
    const hello = async (user) => {
        await client.identify({ userId: user, traits: { email: `${user}@example.org` } });
        await client.track({ userId: user, event: 'hello', properties: {} });
    };

    it('smtps:// speaks TLS from the first byte', async () => {
        await hello('tls-user');
        await implicit.waitFor(1, 15_000).catch(async (error) => {
            throw new Error(`${error.message}: ${JSON.stringify(await statusOf('tls-user'))}`);
        });
        assert.equal(implicit.messages[0].tls, true);
        assert.deepEqual(implicit.messages[0].rcpt, ['tls-user@example.org']);
    });

    it('TRACKD_SMTP_TLS=required refuses a server without STARTTLS; opportunistic sends plain', async () => {
        const common = {
            TRACKD_SMTP_URL: `smtp://127.0.0.1:${plain.port}`,
            TRACKD_EMAIL_FROM: 'news@example.com',
            TRACKD_PUBLIC_URL: PUBLIC_URL,
            TRACKD_RETRY_BASE: '1',
            TRACKD_DELIVERY_ATTEMPTS: '2',
        };
        await trackd.signal('SIGTERM');
        await trackd.serve({ env: { ...common, TRACKD_SMTP_TLS: 'required' } });
        client = new PipelinesClient(trackd.workspace.write_key, { url: `${trackd.baseUrl}/v1`, strictMode: true });
        await hello('needs-tls');
        const deadline = Date.now() + 20_000;
        let row;
        while (Date.now() < deadline) {
            row = await statusOf('needs-tls');
            if (row && row.status === 'dead') break;
            await new Promise((r) => setTimeout(r, 200));
        }
        assert.equal(row.status, 'dead');
        assert.match(row.last_error, /does not offer STARTTLS/);
        assert.equal(plain.messages.length, 0, 'nothing was sent in the clear');

        await trackd.signal('SIGTERM');
        await trackd.serve({ env: { ...common, TRACKD_SMTP_TLS: 'opportunistic' } });
        client = new PipelinesClient(trackd.workspace.write_key, { url: `${trackd.baseUrl}/v1`, strictMode: true });
        await hello('plain-ok');
        await plain.waitFor(1, 15_000);
        assert.equal(plain.messages[0].tls, false);
        assert.deepEqual(plain.messages[0].rcpt, ['plain-ok@example.org']);
    });
});
