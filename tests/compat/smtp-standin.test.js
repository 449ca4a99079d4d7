'use strict';
// Self-test of the SMTP stand-in (smtp_standin.js): a hand-written SMTP client on Node's own
// net/tls sockets drives it through plain sessions, dot-stuffing, AUTH PLAIN/LOGIN, STARTTLS,
// scripted failures and abrupt disconnects; parseMessage and decodeWords are checked on a
// multipart/alternative message. When curl is on the PATH, libcurl's SMTP client sends through
// it too (plain, and STARTTLS with --ssl-reqd), to prove the stand-in speaks what trackd's
// libcurl speaks.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFile, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const { SmtpStandin, parseMessage, decodeWords } = require('./smtp_standin');
const { makeTlsMaterial } = require('./tls');

const REPLY_TIMEOUT_MS = 10_000;
const HAVE_CURL = spawnSync('curl', ['--version'], { stdio: 'ignore' }).status === 0;

// A minimal SMTP client: read() resolves with the next complete reply {code, lines, text}.
class Client {
    static async connect(port) {
        const client = new Client();
        client.socket = net.connect(port, '127.0.0.1');
        client.listen();
        await new Promise((resolve, reject) => {
            client.socket.once('connect', resolve);
            client.socket.once('error', reject);
        });
        client.greeting = await client.read();
        return client;
    }

    listen() {
        this.buffer = '';
        this.replies = [];
        this.waiting = [];
        this.closed = false;
        this.socket.setEncoding('utf8');
        this.socket.on('data', (text) => {
            this.buffer += text;
            let nl;
            let lines = this.pendingLines ?? [];
            while ((nl = this.buffer.indexOf('\r\n')) >= 0) {
                const line = this.buffer.slice(0, nl);
                this.buffer = this.buffer.slice(nl + 2);
                lines.push(line);
                if (/^\d{3}(?: |$)/.test(line)) {
                    this.replies.push({ code: Number(line.slice(0, 3)), lines: lines.map((l) => l.slice(4)), text: lines.join('\n') });
                    lines = [];
                }
            }
            this.pendingLines = lines;
            this.deliver();
        });
        this.socket.on('error', () => {});
        this.socket.on('close', () => {
            this.closed = true;
            this.deliver();
        });
    }

    deliver() {
        while (this.waiting.length > 0 && (this.replies.length > 0 || this.closed)) {
            const waiter = this.waiting.shift();
            clearTimeout(waiter.timer);
            if (this.replies.length > 0) waiter.resolve(this.replies.shift());
            else waiter.reject(new Error('connection closed'));
        }
    }

    read() {
        return new Promise((resolve, reject) => {
            const waiter = { resolve, reject };
            waiter.timer = setTimeout(() => {
                this.waiting = this.waiting.filter((w) => w !== waiter);
                reject(new Error('no SMTP reply in time'));
            }, REPLY_TIMEOUT_MS);
            this.waiting.push(waiter);
            this.deliver();
        });
    }

    write(text) {
        this.socket.write(text);
    }

    async cmd(line) {
        this.write(`${line}\r\n`);
        return this.read();
    }

    // STARTTLS was answered 220: continue over TLS, verifying the server with `ca`.
    async upgrade(ca) {
        const plain = this.socket;
        plain.removeAllListeners('data');
        plain.removeAllListeners('close');
        this.socket = tls.connect({ socket: plain, ca, servername: 'localhost' });
        this.listen();
        await new Promise((resolve, reject) => {
            this.socket.once('secureConnect', resolve);
            this.socket.once('error', reject);
        });
    }

    // A whole transaction; returns the final reply.
    async send(from, rcpts, body) {
        assert.equal((await this.cmd(`MAIL FROM:<${from}>`)).code, 250);
        for (const rcpt of rcpts) assert.equal((await this.cmd(`RCPT TO:<${rcpt}>`)).code, 250);
        assert.equal((await this.cmd('DATA')).code, 354);
        this.write(body);
        return this.read();
    }

    async quit() {
        const answer = await this.cmd('QUIT');
        assert.equal(answer.code, 221);
        await new Promise((resolve) => (this.closed ? resolve() : this.socket.once('close', resolve)));
    }
}

function b64(text) {
    return Buffer.from(text, 'utf8').toString('base64');
}

function curl(args) {
    return new Promise((resolve) => {
        execFile('curl', ['--silent', '--show-error', '--max-time', '20', ...args], (error, stdout, stderr) => {
            resolve({ status: error ? error.code : 0, stdout, stderr });
        });
    });
}

const SIMPLE = 'From: a@x\r\nTo: b@y\r\nSubject: hi\r\n\r\nhello\r\n';

describe('SMTP stand-in', () => {
    describe('plain sessions', () => {
        let s;
        before(async () => {
            s = new SmtpStandin({});
            await s.start();
        });
        after(() => s.stop());

        it('greets, answers EHLO without PIPELINING, STARTTLS or AUTH, and records a message', async () => {
            const c = await Client.connect(s.port);
            assert.equal(c.greeting.code, 220);
            assert.match(c.greeting.text, /^220 localhost ESMTP standin$/);
            const ehlo = await c.cmd('EHLO client.example');
            assert.equal(ehlo.code, 250);
            assert.deepEqual(ehlo.lines, ['localhost', '8BITMIME', 'SIZE 10485760']);
            assert.equal((await c.cmd('NOOP')).code, 250);
            assert.equal((await c.cmd('VRFY someone')).code, 502);
            assert.equal((await c.cmd('RCPT TO:<b@y>')).code, 503);
            const end = await c.send('a@x', ['b@y', 'c@z'], `${SIMPLE}.\r\n`);
            assert.equal(end.code, 250);
            assert.match(end.text, /^250 2\.0\.0 queued as \S+$/);
            await c.quit();

            const [message] = await s.waitFor(1, 2000);
            assert.equal(message.from, 'a@x');
            assert.deepEqual(message.rcpt, ['b@y', 'c@z']);
            assert.equal(message.data, SIMPLE);
            assert.equal(message.tls, false);
            assert.equal(message.auth, null);
            assert.equal(message.parsed.header('subject'), 'hi');
            assert.equal(message.parsed.parts[0].body, 'hello\r\n');
            assert.equal(s.attempts, 1);
        });

        it('dot-unstuffs lines and takes an empty message', async () => {
            const before = s.messages.length;
            const c = await Client.connect(s.port);
            await c.cmd('HELO client');
            const body = 'Subject: dots\r\n\r\n..leading\r\n...two\r\n.\r\n';
            assert.equal((await c.send('a@x', ['b@y'], body)).code, 250);
            assert.equal((await c.send('a@x', ['b@y'], '.\r\n')).code, 250);
            await c.quit();
            const messages = await s.waitFor(before + 2, 2000);
            assert.equal(messages[before].data, 'Subject: dots\r\n\r\n.leading\r\n..two\r\n');
            assert.equal(messages[before + 1].data, '');
        });

        it('buffers commands split across packets and several in one packet', async () => {
            const before = s.messages.length;
            // One byte at a time.
            const c = await Client.connect(s.port);
            const script = `EHLO x\r\nMAIL FROM:<slow@x> BODY=8BITMIME\r\nRCPT TO:<b@y>\r\nDATA\r\n`;
            const replies = [];
            for (const ch of script) {
                c.write(ch);
                await new Promise((r) => setImmediate(r));
            }
            for (let i = 0; i < 4; i += 1) replies.push((await c.read()).code);
            assert.deepEqual(replies, [250, 250, 250, 354]);
            const body = 'Subject: slow\r\n\r\nbyte by byte\r\n.\r\n';
            for (const ch of body) {
                c.write(ch);
                await new Promise((r) => setImmediate(r));
            }
            assert.equal((await c.read()).code, 250);
            await c.quit();

            // Everything, the message and QUIT included, in one write.
            const d = await Client.connect(s.port);
            d.write(`EHLO x\r\nMAIL FROM:<fast@x>\r\nRCPT TO:<b@y>\r\nDATA\r\nSubject: fast\r\n\r\nall at once\r\n.\r\nQUIT\r\n`);
            const codes = [];
            for (let i = 0; i < 6; i += 1) codes.push((await d.read()).code);
            assert.deepEqual(codes, [250, 250, 250, 354, 250, 221]);

            const messages = await s.waitFor(before + 2, 2000);
            assert.equal(messages[before].from, 'slow@x');
            assert.equal(messages[before].data, 'Subject: slow\r\n\r\nbyte by byte\r\n');
            assert.equal(messages[before + 1].from, 'fast@x');
            assert.equal(messages[before + 1].data, 'Subject: fast\r\n\r\nall at once\r\n');
        });

        it('survives a client that disconnects mid-transaction, and records nothing for it', async () => {
            const before = s.messages.length;
            const c = await Client.connect(s.port);
            await c.cmd('EHLO x');
            assert.equal((await c.cmd('MAIL FROM:<gone@x>')).code, 250);
            assert.equal((await c.cmd('RCPT TO:<b@y>')).code, 250);
            assert.equal((await c.cmd('DATA')).code, 354);
            c.write('Subject: cut\r\n\r\nhalf a mess');
            await new Promise((r) => setTimeout(r, 50));
            c.socket.destroy();
            await new Promise((r) => setTimeout(r, 50));

            const d = await Client.connect(s.port);
            await d.cmd('EHLO x');
            assert.equal((await d.send('a@x', ['b@y'], `${SIMPLE}.\r\n`)).code, 250);
            await d.quit();
            const messages = await s.waitFor(before + 1, 2000);
            assert.equal(messages.length, before + 1);
            assert.equal(messages[before].from, 'a@x');
        });

        it('fails the next transactions where failNext says, then goes back to normal', async () => {
            const before = s.messages.length;
            const attempts = s.attempts;
            s.failNext(1, { at: 'RCPT', code: 451, text: '4.3.0 try again later' });
            const c = await Client.connect(s.port);
            await c.cmd('EHLO x');
            assert.equal((await c.cmd('MAIL FROM:<a@x>')).code, 250);
            const refused = await c.cmd('RCPT TO:<b@y>');
            assert.equal(refused.code, 451);
            assert.equal(refused.text, '451 4.3.0 try again later');
            assert.equal((await c.cmd('DATA')).code, 503);
            assert.equal((await c.cmd('RSET')).code, 250);
            assert.equal((await c.send('a@x', ['b@y'], `${SIMPLE}.\r\n`)).code, 250);
            assert.equal(s.messages.length, before + 1);
            assert.equal(s.attempts, attempts + 2);

            // The other stages.
            s.failNext(1, { at: 'MAIL', code: 421, text: '4.7.0 busy' });
            s.failNext(1, { at: 'DATA', code: 554, text: '5.7.1 no thanks' });
            s.failNext(2, { at: 'END', code: 452, text: '4.3.1 out of space' });
            assert.equal((await c.cmd('MAIL FROM:<a@x>')).code, 421);
            assert.equal((await c.cmd('MAIL FROM:<a@x>')).code, 250);
            assert.equal((await c.cmd('RCPT TO:<b@y>')).code, 250);
            assert.equal((await c.cmd('DATA')).code, 554);
            await c.cmd('RSET');
            assert.equal((await c.send('a@x', ['b@y'], `${SIMPLE}.\r\n`)).code, 452);
            assert.equal((await c.send('a@x', ['b@y'], `${SIMPLE}.\r\n`)).code, 452);
            assert.equal(s.messages.length, before + 1);
            assert.equal((await c.send('ok@x', ['b@y'], `${SIMPLE}.\r\n`)).code, 250);
            await c.quit();
            assert.equal(s.messages.length, before + 2);
            assert.equal(s.messages[before + 1].from, 'ok@x');
            assert.equal(s.attempts, attempts + 7);
        });

        it('waitFor rejects on timeout', async () => {
            await assert.rejects(s.waitFor(s.messages.length + 1, 100), /timed out/);
        });
    });

    describe('AUTH', () => {
        let s;
        before(async () => {
            s = new SmtpStandin({ requireAuth: { user: 'mailer', pass: 's3cret' } });
            await s.start();
        });
        after(() => s.stop());

        it('advertises AUTH and refuses MAIL before it', async () => {
            const c = await Client.connect(s.port);
            const ehlo = await c.cmd('EHLO x');
            assert.ok(ehlo.lines.includes('AUTH PLAIN LOGIN'));
            assert.equal(ehlo.lines[ehlo.lines.length - 1], 'SIZE 10485760');
            const refused = await c.cmd('MAIL FROM:<a@x>');
            assert.equal(refused.text, '530 5.7.0 authentication required');
            assert.equal((await c.cmd('RCPT TO:<b@y>')).code, 530);
            await c.quit();
        });

        it('takes AUTH PLAIN with an initial response and after 334', async () => {
            const before = s.messages.length;
            const c = await Client.connect(s.port);
            await c.cmd('EHLO x');
            assert.equal((await c.cmd(`AUTH PLAIN ${b64('\0mailer\0s3cret')}`)).code, 235);
            assert.equal((await c.send('a@x', ['b@y'], `${SIMPLE}.\r\n`)).code, 250);
            await c.quit();

            const d = await Client.connect(s.port);
            await d.cmd('EHLO x');
            const challenge = await d.cmd('AUTH PLAIN');
            assert.equal(challenge.code, 334);
            assert.equal((await d.cmd(b64('\0mailer\0s3cret'))).code, 235);
            await d.quit();
            const messages = await s.waitFor(before + 1, 2000);
            assert.deepEqual(messages[before].auth, { user: 'mailer', pass: 's3cret' });
        });

        it('takes AUTH LOGIN', async () => {
            const c = await Client.connect(s.port);
            await c.cmd('EHLO x');
            const user = await c.cmd('AUTH LOGIN');
            assert.equal(user.text, '334 VXNlcm5hbWU6');
            const pass = await c.cmd(b64('mailer'));
            assert.equal(pass.text, '334 UGFzc3dvcmQ6');
            assert.equal((await c.cmd(b64('s3cret'))).code, 235);
            assert.equal((await c.cmd('MAIL FROM:<a@x>')).code, 250);
            await c.quit();
        });

        it('answers a wrong password 535, for PLAIN and LOGIN', async () => {
            const c = await Client.connect(s.port);
            await c.cmd('EHLO x');
            const plain = await c.cmd(`AUTH PLAIN ${b64('\0mailer\0wrong')}`);
            assert.equal(plain.text, '535 5.7.8 authentication failed');
            await c.cmd('AUTH LOGIN');
            await c.cmd(b64('mailer'));
            assert.equal((await c.cmd(b64('nope'))).code, 535);
            assert.equal((await c.cmd('MAIL FROM:<a@x>')).code, 530);
            await c.quit();
        });
    });

    describe('STARTTLS', () => {
        let s;
        let material;
        let dir;
        before(async () => {
            dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smtp-standin-'));
            material = makeTlsMaterial(dir);
            s = new SmtpStandin({
                tls: { certPem: fs.readFileSync(material.server.cert), keyPem: fs.readFileSync(material.server.key) },
                requireAuth: null,
                offerStartTls: true,
            });
            await s.start();
        });
        after(async () => {
            await s.stop();
            fs.rmSync(dir, { recursive: true, force: true });
        });

        it('upgrades, makes the client EHLO again, and records tls: true', async () => {
            const before = s.messages.length;
            const c = await Client.connect(s.port);
            const ehlo = await c.cmd('EHLO x');
            assert.ok(ehlo.lines.includes('STARTTLS'));
            assert.equal((await c.cmd('STARTTLS')).code, 220);
            await c.upgrade(material.ca);
            assert.equal(c.socket.authorized, true);
            const again = await c.cmd('EHLO x');
            assert.equal(again.code, 250);
            assert.ok(!again.lines.includes('STARTTLS'));
            assert.equal((await c.cmd('STARTTLS')).code, 503);
            assert.equal((await c.send('a@x', ['b@y'], `${SIMPLE}.\r\n`)).code, 250);
            await c.quit();

            // Without STARTTLS, the same stand-in records tls: false.
            const d = await Client.connect(s.port);
            await d.cmd('EHLO x');
            assert.equal((await d.send('plain@x', ['b@y'], `${SIMPLE}.\r\n`)).code, 250);
            await d.quit();

            const messages = await s.waitFor(before + 2, 2000);
            assert.equal(messages[before].tls, true);
            assert.equal(messages[before].data, SIMPLE);
            assert.equal(messages[before + 1].tls, false);
        });

        it('libcurl sends over STARTTLS with --ssl-reqd, logging in', { skip: !HAVE_CURL && 'curl is not on the PATH' }, async () => {
            const authed = new SmtpStandin({
                tls: { certPem: fs.readFileSync(material.server.cert), keyPem: fs.readFileSync(material.server.key) },
                requireAuth: { user: 'mailer', pass: 's3cret' },
                offerStartTls: true,
            });
            await authed.start();
            try {
                const file = path.join(dir, 'tls-mail.eml');
                const body = 'From: a@x\r\nTo: b@y\r\nSubject: over tls\r\n\r\n.dot first\r\nsecret\r\n';
                fs.writeFileSync(file, body);
                const result = await curl([
                    '--url', `smtp://127.0.0.1:${authed.port}`, '--ssl-reqd', '--cacert', material.caFile,
                    '--user', 'mailer:s3cret', '--mail-from', 'a@x', '--mail-rcpt', 'b@y', '--upload-file', file,
                ]);
                assert.equal(result.status, 0, result.stderr);
                const [message] = await authed.waitFor(1, 5000);
                assert.equal(message.tls, true);
                assert.deepEqual(message.auth, { user: 'mailer', pass: 's3cret' });
                assert.equal(message.data, body);
            } finally {
                await authed.stop();
            }
        });
    });

    describe('libcurl, plain', () => {
        let s;
        let dir;
        before(async () => {
            dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smtp-standin-curl-'));
            s = new SmtpStandin({});
            await s.start();
        });
        after(async () => {
            await s.stop();
            fs.rmSync(dir, { recursive: true, force: true });
        });

        it('sends a message with curl --mail-from/--mail-rcpt/--upload-file', { skip: !HAVE_CURL && 'curl is not on the PATH' }, async () => {
            const file = path.join(dir, 'mail.eml');
            const body = 'From: a@x\r\nTo: b@y\r\nSubject: from curl\r\n\r\nline one\r\n.starts with a dot\r\n';
            fs.writeFileSync(file, body);
            const result = await curl([
                '--url', `smtp://127.0.0.1:${s.port}`, '--mail-from', 'a@x', '--mail-rcpt', 'b@y', '--upload-file', file,
            ]);
            assert.equal(result.status, 0, result.stderr);
            const [message] = await s.waitFor(1, 5000);
            assert.equal(message.from, 'a@x');
            assert.deepEqual(message.rcpt, ['b@y']);
            assert.equal(message.data, body);
            assert.equal(message.tls, false);
        });

        it('curl fails on a 451 at RCPT and succeeds on the retry', { skip: !HAVE_CURL && 'curl is not on the PATH' }, async () => {
            const before = s.messages.length;
            const file = path.join(dir, 'retry.eml');
            fs.writeFileSync(file, SIMPLE);
            const args = ['--url', `smtp://127.0.0.1:${s.port}`, '--mail-from', 'a@x', '--mail-rcpt', 'b@y', '--upload-file', file];
            s.failNext(1, { at: 'RCPT', code: 451, text: '4.3.0 try again later' });
            const first = await curl(args);
            assert.notEqual(first.status, 0);
            assert.equal(s.messages.length, before);
            const second = await curl(args);
            assert.equal(second.status, 0, second.stderr);
            await s.waitFor(before + 1, 5000);
        });
    });

    describe('parseMessage and decodeWords', () => {
        const html = '<p>Caf\u00e9 \u2014 order #42 is on its way. A long line that quoted-printable has to break with a soft line break somewhere.</p>';
        const message = [
            'From: "Shop" <shop@example.com>',
            'To: buyer@example.com',
            'Subject: =?UTF-8?B?Q2Fmw6kg4oCU?=',
            ' =?utf-8?Q?order_=2342_=E2=9C=93?=',
            'MIME-Version: 1.0',
            'Content-Type: multipart/alternative;',
            '\tboundary="b1=_x"',
            '',
            'This is a preamble.',
            '--b1=_x',
            'Content-Type: text/plain; charset=UTF-8',
            'Content-Transfer-Encoding: quoted-printable',
            '',
            'Caf=C3=A9 =E2=80=94 order #42 is on its way. A long line that quoted-printa=',
            'ble has to break.   ',
            'a=3Db',
            '--b1=_x',
            'Content-Type: text/html; charset="utf-8"',
            'Content-Transfer-Encoding: base64',
            '',
            ...Buffer.from(html, 'utf8').toString('base64').match(/.{1,76}/g),
            '--b1=_x--',
            'epilogue',
            '',
        ].join('\r\n');

        it('splits a multipart/alternative message and decodes QP, base64 and the subject', () => {
            const parsed = parseMessage(message);
            assert.deepEqual(parsed.headers.map(([name]) => name), ['From', 'To', 'Subject', 'MIME-Version', 'Content-Type']);
            assert.equal(parsed.header('content-type'), 'multipart/alternative;\tboundary="b1=_x"');
            assert.equal(parsed.contentType.type, 'multipart/alternative');
            assert.equal(parsed.contentType.params.boundary, 'b1=_x');
            assert.equal(decodeWords(parsed.header('Subject')), 'Caf\u00e9 \u2014order #42 \u2713');
            assert.equal(parsed.parts.length, 2);
            const [plain, htmlPart] = parsed.parts;
            assert.equal(plain.contentType.type, 'text/plain');
            assert.equal(plain.contentType.params.charset, 'UTF-8');
            assert.equal(plain.body, 'Caf\u00e9 \u2014 order #42 is on its way. A long line that quoted-printable has to break.\r\na=b');
            assert.equal(htmlPart.header('Content-Transfer-Encoding'), 'base64');
            assert.equal(htmlPart.body, html);
            assert.equal(parsed.part('text/html'), htmlPart);
            assert.equal(parsed.rawLines[0], 'From: "Shop" <shop@example.com>');
            assert.deepEqual(parsed.lineIssues, []);
        });

        it('takes a single-part message as its own one part, and reports line issues', () => {
            const long = 'x'.repeat(1000);
            const parsed = parseMessage(`Subject: plain\r\n\r\nok\r\n${long}\r\nbare\nlf\r\ncr\rhere\r\n`);
            assert.equal(parsed.parts.length, 1);
            assert.equal(parsed.contentType.type, 'text/plain');
            assert.equal(parsed.parts[0].header('subject'), 'plain');
            assert.equal(parsed.lineIssues.length, 3);
            assert.match(parsed.lineIssues.join('\n'), /line 4: 1000 bytes/);
            assert.match(parsed.lineIssues.join('\n'), /bare LF/);
            assert.match(parsed.lineIssues.join('\n'), /bare CR/);
        });

        it('decodes encoded-words', () => {
            assert.equal(decodeWords('plain text'), 'plain text');
            assert.equal(decodeWords('=?UTF-8?Q?a_b?= =?UTF-8?Q?_c?='), 'a b c');
            assert.equal(decodeWords('Re: =?utf-8?b?w6k=?= and =?UTF-8?Q?=C3=A9?= end'), 'Re: \u00e9 and \u00e9 end');
            // A character split across two words.
            assert.equal(decodeWords('=?UTF-8?B?4pw=?=\r\n =?UTF-8?B?kw==?='), '\u2713');
            assert.equal(decodeWords('=?ISO-8859-1?Q?caf=E9?='), 'caf\u00e9');
        });
    });
});
