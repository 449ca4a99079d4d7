'use strict';
// An SMTP receiver standing in for a mail relay (RFC 5321, server side; enough for libcurl's SMTP
// client): it records every message it accepts and fails transactions when a test asks. Only
// 127.0.0.1, plain TCP with optional STARTTLS (RFC 3207) and AUTH PLAIN / LOGIN (RFC 4954).
//
//   const s = new SmtpStandin({ tls: {certPem, keyPem} | null, requireAuth: {user, pass} | null,
//                               offerStartTls: true | false, implicitTls: true | false })
//                                implicitTls: TLS from the first byte (smtps://), with `tls`
//   await s.start()              listens on a free port; s.port
//   s.messages                   each accepted message: {id, from, rcpt: [...], data, tls, auth,
//                                parsed, at}. data is the raw message as a string (UTF-8), dot-
//                                unstuffed, CRLFs kept, ending in CRLF; tls: STARTTLS was done
//                                before MAIL; auth: the {user, pass} the session logged in with,
//                                or null; parsed = parseMessage(data)
//   s.failNext(n, {at: 'MAIL' | 'RCPT' | 'DATA' | 'END', code: 451, text: '4.3.0 try again later'})
//                                the next n transactions (counted at MAIL FROM) are answered
//                                `code text` at that stage instead of 250/354: at RCPT every
//                                recipient is refused; at END the data is read, then refused and
//                                not recorded
//   await s.waitFor(count, ms)   resolves with s.messages once `count` messages arrived; rejects
//                                after `ms`
//   s.attempts                   MAIL FROM commands seen, failed transactions included
//   s.sessions                   connections accepted so far
//   s.log                        every line, in order: {session, dir: 'C' | 'S', line}
//   await s.stop()
//
//   parseMessage(data)           {headers: [[name, value], ...] (unfolded, in order), header(name),
//                                contentType: {type, params}, body (raw), parts: [...], part(type),
//                                rawLines, lineIssues}. A part is {headers, header(), contentType,
//                                body (decoded per Content-Transfer-Encoding and charset), parts
//                                (only for a nested multipart)}; a single-part message has one
//                                part, itself. part(type) is the first leaf part of that type,
//                                depth first. lineIssues describes lines over 998 bytes and bare
//                                LF / bare CR.
//   decodeWords(value)           a header value with RFC 2047 encoded-words (B and Q) decoded

const crypto = require('node:crypto');
const net = require('node:net');
const tls = require('node:tls');

const MAX_SIZE = 10485760;
const MAX_LINE = 65536; // a command line longer than this is refused and the connection closed
const STAGES = ['MAIL', 'RCPT', 'DATA', 'END'];

// ---------------------------------------------------------------------------------------------
// Message parsing

function makeHeaderLookup(headers) {
    return (name) => {
        const wanted = String(name).toLowerCase();
        const found = headers.find(([n]) => n.toLowerCase() === wanted);
        return found === undefined ? undefined : found[1];
    };
}

// 'text/plain; charset="utf-8"' -> {type: 'text/plain', params: {charset: 'utf-8'}}
function parseContentType(value) {
    if (value === undefined || value.trim() === '') return { type: 'text/plain', params: { charset: 'us-ascii' } };
    const params = {};
    let at = value.indexOf(';');
    const type = (at < 0 ? value : value.slice(0, at)).trim().toLowerCase();
    while (at >= 0 && at < value.length) {
        at += 1;
        while (at < value.length && /\s/.test(value[at])) at += 1;
        const eq = value.indexOf('=', at);
        if (eq < 0) break;
        const key = value.slice(at, eq).trim().toLowerCase();
        at = eq + 1;
        while (at < value.length && /\s/.test(value[at])) at += 1;
        let val = '';
        if (value[at] === '"') {
            at += 1;
            while (at < value.length && value[at] !== '"') {
                if (value[at] === '\\' && at + 1 < value.length) at += 1;
                val += value[at];
                at += 1;
            }
            at = value.indexOf(';', at);
        } else {
            const end = value.indexOf(';', at);
            val = (end < 0 ? value.slice(at) : value.slice(at, end)).trim();
            at = end;
        }
        if (key !== '') params[key] = val;
    }
    return { type, params };
}

// Quoted-printable (RFC 2045 6.7) to bytes: trailing whitespace on a line is dropped, '=' at the
// end of a line is a soft break, =XX is a byte, anything else is taken as is.
function decodeQuotedPrintable(text) {
    const lines = text.split(/\r?\n/);
    const out = [];
    lines.forEach((rawLine, index) => {
        let line = rawLine.replace(/[ \t]+$/, '');
        let soft = false;
        if (line.endsWith('=')) {
            soft = true;
            line = line.slice(0, -1);
        }
        const bytes = Buffer.from(line, 'utf8');
        for (let i = 0; i < bytes.length; i += 1) {
            if (bytes[i] === 0x3d && i + 2 < bytes.length && /^[0-9A-Fa-f]{2}$/.test(String.fromCharCode(bytes[i + 1], bytes[i + 2]))) {
                out.push(parseInt(String.fromCharCode(bytes[i + 1], bytes[i + 2]), 16));
                i += 2;
            } else {
                out.push(bytes[i]);
            }
        }
        if (!soft && index < lines.length - 1) out.push(0x0d, 0x0a);
    });
    return Buffer.from(out);
}

function decodeCharset(bytes, charset) {
    const label = String(charset || 'utf-8').trim().toLowerCase();
    try {
        return new TextDecoder(label === 'us-ascii' || label === 'ascii' ? 'utf-8' : label).decode(bytes);
    } catch {
        return bytes.toString('utf8');
    }
}

function decodeBody(body, encoding, charset) {
    const cte = String(encoding || '7bit').trim().toLowerCase();
    let bytes;
    if (cte === 'quoted-printable') bytes = decodeQuotedPrintable(body);
    else if (cte === 'base64') bytes = Buffer.from(body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
    else bytes = Buffer.from(body, 'utf8');
    return decodeCharset(bytes, charset);
}

// Headers (unfolded) and the raw body of an entity (a message or a MIME part).
function splitEntity(text) {
    let headerText;
    let body;
    const match = /\r?\n\r?\n/.exec(text);
    if (text.startsWith('\r\n') || text.startsWith('\n')) {
        headerText = '';
        body = text.replace(/^\r?\n/, '');
    } else if (match === null) {
        headerText = text;
        body = '';
    } else {
        headerText = text.slice(0, match.index);
        body = text.slice(match.index + match[0].length);
    }
    const headers = [];
    for (const line of headerText.split(/\r?\n/)) {
        if (line === '') continue;
        if (/^[ \t]/.test(line) && headers.length > 0) {
            headers[headers.length - 1][1] += line; // unfolding removes the CRLF only
            continue;
        }
        const colon = line.indexOf(':');
        if (colon < 0) continue;
        headers.push([line.slice(0, colon).trim(), line.slice(colon + 1)]);
    }
    for (const header of headers) header[1] = header[1].trim();
    return { headers, body };
}

// The parts of a multipart body, as raw texts, split by `boundary` (RFC 2046 5.1.1: the CRLF
// before a delimiter line belongs to the delimiter; preamble and epilogue are dropped).
function splitMultipart(body, boundary) {
    const lines = body.split(/\r?\n/);
    const parts = [];
    let current = null;
    for (const line of lines) {
        const trimmed = line.replace(/[ \t]+$/, '');
        if (trimmed === `--${boundary}--`) {
            if (current !== null) parts.push(current.join('\r\n'));
            current = null;
            break;
        }
        if (trimmed === `--${boundary}`) {
            if (current !== null) parts.push(current.join('\r\n'));
            current = [];
            continue;
        }
        if (current !== null) current.push(line);
    }
    if (current !== null) parts.push(current.join('\r\n')); // no closing delimiter
    return parts;
}

function parseEntity(text) {
    const { headers, body } = splitEntity(text);
    const header = makeHeaderLookup(headers);
    const contentType = parseContentType(header('Content-Type'));
    const entity = { headers, header, contentType };
    if (contentType.type.startsWith('multipart/') && contentType.params.boundary) {
        entity.body = body;
        entity.parts = splitMultipart(body, contentType.params.boundary).map(parseEntity);
    } else {
        entity.body = decodeBody(body, header('Content-Transfer-Encoding'), contentType.params.charset);
    }
    return entity;
}

function findLeaf(parts, type) {
    for (const part of parts) {
        if (part.parts) {
            const found = findLeaf(part.parts, type);
            if (found) return found;
        } else if (part.contentType.type === type) {
            return part;
        }
    }
    return undefined;
}

// Lines over 998 bytes (RFC 5322 2.1.1) and CR or LF not part of a CRLF.
function lineIssues(data) {
    const issues = [];
    let lineNo = 1;
    let lineStart = 0;
    for (let i = 0; i < data.length; i += 1) {
        const c = data[i];
        if (c === '\r' && data[i + 1] !== '\n') issues.push(`line ${lineNo}: bare CR`);
        if (c !== '\n') continue;
        if (data[i - 1] !== '\r') {
            issues.push(`line ${lineNo}: bare LF`);
            continue; // not a line end as far as SMTP is concerned
        }
        const bytes = Buffer.byteLength(data.slice(lineStart, i - 1), 'utf8');
        if (bytes > 998) issues.push(`line ${lineNo}: ${bytes} bytes (over 998)`);
        lineNo += 1;
        lineStart = i + 1;
    }
    if (lineStart < data.length) {
        const bytes = Buffer.byteLength(data.slice(lineStart), 'utf8');
        if (bytes > 998) issues.push(`line ${lineNo}: ${bytes} bytes (over 998)`);
    }
    return issues;
}

function parseMessage(data) {
    const top = parseEntity(data);
    const { body } = splitEntity(data);
    const parts = top.parts ?? [top];
    const rawLines = data.split('\r\n');
    if (rawLines.length > 0 && rawLines[rawLines.length - 1] === '') rawLines.pop();
    return {
        headers: top.headers,
        header: top.header,
        contentType: top.contentType,
        body,
        parts,
        part: (type) => findLeaf(parts, String(type).toLowerCase()),
        rawLines,
        lineIssues: lineIssues(data),
    };
}

// RFC 2047 encoded-words; adjacent words are joined (bytes first, so a character split across
// two words survives) and the whitespace between them dropped.
const ENCODED_WORD = /=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g;

function decodeWords(value) {
    if (value === undefined || value === null) return value;
    const text = String(value);
    let out = '';
    let last = 0;
    let pending = null; // {charset, chunks: [Buffer]}
    const flush = () => {
        if (pending === null) return;
        out += decodeCharset(Buffer.concat(pending.chunks), pending.charset);
        pending = null;
    };
    for (const match of text.matchAll(ENCODED_WORD)) {
        const between = text.slice(last, match.index);
        if (!(pending !== null && /^[ \t\r\n]*$/.test(between))) {
            flush();
            out += between;
        }
        const charset = match[1].split('*')[0].toLowerCase();
        let bytes;
        if (match[2].toUpperCase() === 'B') {
            bytes = Buffer.from(match[3], 'base64');
        } else {
            const q = match[3].replace(/_/g, ' ');
            const list = [];
            const raw = Buffer.from(q, 'utf8');
            for (let i = 0; i < raw.length; i += 1) {
                const hex = String.fromCharCode(raw[i + 1] ?? 0, raw[i + 2] ?? 0);
                if (raw[i] === 0x3d && /^[0-9A-Fa-f]{2}$/.test(hex)) {
                    list.push(parseInt(hex, 16));
                    i += 2;
                } else {
                    list.push(raw[i]);
                }
            }
            bytes = Buffer.from(list);
        }
        if (pending !== null && pending.charset !== charset) flush();
        if (pending === null) pending = { charset, chunks: [] };
        pending.chunks.push(bytes);
        last = match.index + match[0].length;
    }
    flush();
    return out + text.slice(last);
}

// ---------------------------------------------------------------------------------------------
// The server

class SmtpStandin {
    constructor({ tls: tlsMaterial = null, requireAuth = null, offerStartTls = Boolean(tlsMaterial), implicitTls = false } = {}) {
        this.tlsMaterial = tlsMaterial;
        this.requireAuth = requireAuth;
        this.offerStartTls = Boolean(offerStartTls && tlsMaterial);
        this.secureContext = tlsMaterial
            ? tls.createSecureContext({ cert: tlsMaterial.certPem, key: tlsMaterial.keyPem })
            : null;
        this.messages = [];
        this.attempts = 0;
        this.sessions = 0;
        this.log = [];
        this.failures = []; // one {at, code, text} per transaction still to fail
        this.waiters = [];
        this.open = new Set(); // current socket of each live session
        this.implicitTls = Boolean(implicitTls && tlsMaterial);
        if (this.implicitTls) this.offerStartTls = false;
        this.server = this.implicitTls
            ? tls.createServer({ cert: tlsMaterial.certPem, key: tlsMaterial.keyPem }, (socket) => this.session(socket))
            : net.createServer((socket) => this.session(socket));
        this.port = undefined;
    }

    async start() {
        await new Promise((resolve, reject) => {
            this.server.once('error', reject);
            this.server.listen(0, '127.0.0.1', () => {
                this.server.removeListener('error', reject);
                resolve();
            });
        });
        this.port = this.server.address().port;
        return this.port;
    }

    stop() {
        for (const waiter of this.waiters) {
            clearTimeout(waiter.timer);
            waiter.reject(new Error('SMTP stand-in stopped'));
        }
        this.waiters = [];
        return new Promise((resolve) => {
            this.server.close(() => resolve());
            for (const socket of this.open) socket.destroy();
        });
    }

    failNext(n, { at = 'RCPT', code = 451, text = '4.3.0 try again later' } = {}) {
        const stage = String(at).toUpperCase();
        if (!STAGES.includes(stage)) throw new Error(`failNext: unknown stage ${at}`);
        for (let i = 0; i < n; i += 1) this.failures.push({ at: stage, code, text });
    }

    waitFor(count, timeoutMs = 20000) {
        if (this.messages.length >= count) return Promise.resolve(this.messages);
        return new Promise((resolve, reject) => {
            const waiter = { count, resolve, reject };
            waiter.timer = setTimeout(() => {
                this.waiters = this.waiters.filter((w) => w !== waiter);
                reject(new Error(`timed out waiting for ${count} message(s); ${this.messages.length} arrived`));
            }, timeoutMs);
            this.waiters.push(waiter);
        });
    }

    record(message) {
        this.messages.push(message);
        const ready = this.waiters.filter((w) => this.messages.length >= w.count);
        this.waiters = this.waiters.filter((w) => this.messages.length < w.count);
        for (const waiter of ready) {
            clearTimeout(waiter.timer);
            waiter.resolve(this.messages);
        }
    }

    session(rawSocket) {
        this.sessions += 1;
        const id = this.sessions;
        const standin = this;
        const state = {
            socket: rawSocket,
            buffer: Buffer.alloc(0),
            mode: 'command', // command | data | auth-plain | auth-login-user | auth-login-pass
            tls: standin.implicitTls,
            auth: null,
            loginUser: null,
            tx: null, // {from, rcpt, failure}
            data: null, // while in DATA: {chunks: [Buffer], length, tail}
            closed: false,
        };

        const reply = (line) => {
            standin.log.push({ session: id, dir: 'S', line });
            if (!state.closed && !state.socket.destroyed && state.socket.writable) state.socket.write(`${line}\r\n`);
        };
        const close = () => {
            state.closed = true;
            state.socket.end();
        };
        const attach = (socket) => {
            state.socket = socket;
            standin.open.add(socket);
            socket.on('data', onData);
            socket.on('error', () => {}); // a client may vanish at any point
            socket.on('close', () => {
                state.closed = true;
                standin.open.delete(socket);
            });
        };

        const resetTransaction = () => {
            state.tx = null;
            state.data = null;
            if (state.mode === 'data') state.mode = 'command';
        };

        const failureAt = (stage) => (state.tx && state.tx.failure && state.tx.failure.at === stage ? state.tx.failure : null);

        const authOk = (user, pass) => {
            state.mode = 'command';
            if (user === standin.requireAuth.user && pass === standin.requireAuth.pass) {
                state.auth = { user, pass };
                reply('235 2.7.0 authentication successful');
            } else {
                reply('535 5.7.8 authentication failed');
            }
        };

        const fromBase64 = (text) => {
            if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
            return Buffer.from(text, 'base64').toString('utf8');
        };

        const plainResponse = (text) => {
            const decoded = fromBase64(text);
            const fields = decoded === null ? [] : decoded.split('\0');
            if (fields.length !== 3) {
                state.mode = 'command';
                reply('501 5.5.2 cannot decode AUTH PLAIN response');
                return;
            }
            authOk(fields[1], fields[2]);
        };

        const startTls = () => {
            // Whatever the client sent after STARTTLS is dropped (RFC 3207 4.2); the session
            // starts over on the TLS socket.
            const plain = state.socket;
            plain.removeListener('data', onData);
            reply('220 2.0.0 ready to start TLS');
            const secure = new tls.TLSSocket(plain, { isServer: true, secureContext: standin.secureContext });
            state.buffer = Buffer.alloc(0);
            state.tls = true;
            state.auth = null;
            resetTransaction();
            standin.open.delete(plain);
            attach(secure);
        };

        const ehloLines = () => {
            const lines = ['localhost', '8BITMIME'];
            if (standin.offerStartTls && !state.tls) lines.push('STARTTLS');
            if (standin.requireAuth) lines.push('AUTH PLAIN LOGIN');
            lines.push(`SIZE ${MAX_SIZE}`);
            return lines;
        };

        const command = (line) => {
            const verb = (/^\S*/.exec(line)[0] || '').toUpperCase();
            const arg = line.slice(verb.length).trim();
            switch (verb) {
                case 'EHLO': {
                    resetTransaction();
                    const lines = ehloLines();
                    lines.forEach((text, i) => reply(`250${i === lines.length - 1 ? ' ' : '-'}${text}`));
                    return;
                }
                case 'HELO':
                    resetTransaction();
                    reply('250 localhost');
                    return;
                case 'STARTTLS':
                    if (!standin.offerStartTls || state.tls) {
                        reply(state.tls ? '503 5.5.1 TLS already active' : '502 5.5.1 STARTTLS not offered');
                        return;
                    }
                    if (arg !== '') {
                        reply('501 5.5.4 no parameters allowed');
                        return;
                    }
                    startTls();
                    return;
                case 'AUTH': {
                    if (!standin.requireAuth) {
                        reply('502 5.5.1 AUTH not offered');
                        return;
                    }
                    if (state.auth) {
                        reply('503 5.5.1 already authenticated');
                        return;
                    }
                    if (state.tx) {
                        reply('503 5.5.1 AUTH not allowed during a mail transaction');
                        return;
                    }
                    const [mechanism = '', initial] = arg.split(/\s+/);
                    const mech = mechanism.toUpperCase();
                    if (mech === 'PLAIN') {
                        if (initial === undefined) {
                            state.mode = 'auth-plain';
                            reply('334 ');
                        } else {
                            plainResponse(initial === '=' ? '' : initial);
                        }
                    } else if (mech === 'LOGIN') {
                        if (initial === undefined) {
                            state.mode = 'auth-login-user';
                            reply('334 VXNlcm5hbWU6');
                        } else {
                            const user = fromBase64(initial);
                            if (user === null) {
                                reply('501 5.5.2 cannot decode response');
                                return;
                            }
                            state.loginUser = user;
                            state.mode = 'auth-login-pass';
                            reply('334 UGFzc3dvcmQ6');
                        }
                    } else {
                        reply('504 5.5.4 unrecognized authentication type');
                    }
                    return;
                }
                case 'MAIL': {
                    const match = /^MAIL\s+FROM:\s*<([^>]*)>\s*(.*)$/i.exec(line);
                    if (!match) {
                        reply('501 5.5.4 syntax: MAIL FROM:<address>');
                        return;
                    }
                    if (standin.requireAuth && !state.auth) {
                        reply('530 5.7.0 authentication required');
                        return;
                    }
                    if (state.tx) {
                        reply('503 5.5.1 nested MAIL command');
                        return;
                    }
                    standin.attempts += 1;
                    const failure = standin.failures.shift() ?? null;
                    if (failure && failure.at === 'MAIL') {
                        reply(`${failure.code} ${failure.text}`);
                        return;
                    }
                    const size = /(?:^|\s)SIZE=(\d+)/i.exec(match[2]);
                    if (size && Number(size[1]) > MAX_SIZE) {
                        reply('552 5.3.4 message size exceeds fixed limit');
                        return;
                    }
                    state.tx = { from: match[1], rcpt: [], failure };
                    reply('250 2.1.0 ok');
                    return;
                }
                case 'RCPT': {
                    const match = /^RCPT\s+TO:\s*<([^>]*)>/i.exec(line);
                    if (!match) {
                        reply('501 5.5.4 syntax: RCPT TO:<address>');
                        return;
                    }
                    if (standin.requireAuth && !state.auth) {
                        reply('530 5.7.0 authentication required');
                        return;
                    }
                    if (!state.tx) {
                        reply('503 5.5.1 need MAIL before RCPT');
                        return;
                    }
                    const failure = failureAt('RCPT');
                    if (failure) {
                        reply(`${failure.code} ${failure.text}`);
                        return;
                    }
                    state.tx.rcpt.push(match[1]);
                    reply('250 2.1.5 ok');
                    return;
                }
                case 'DATA': {
                    if (!state.tx) {
                        reply('503 5.5.1 need MAIL before DATA');
                        return;
                    }
                    if (state.tx.rcpt.length === 0) {
                        reply('503 5.5.1 no valid recipients');
                        return;
                    }
                    const failure = failureAt('DATA');
                    if (failure) {
                        reply(`${failure.code} ${failure.text}`);
                        state.tx = null;
                        return;
                    }
                    state.mode = 'data';
                    state.data = { chunks: [], length: 0, tail: Buffer.from('\r\n') };
                    reply('354 end data with <CR><LF>.<CR><LF>');
                    return;
                }
                case 'RSET':
                    resetTransaction();
                    reply('250 2.0.0 ok');
                    return;
                case 'NOOP':
                    reply('250 2.0.0 ok');
                    return;
                case 'QUIT':
                    reply('221 2.0.0 bye');
                    close();
                    return;
                default:
                    reply('502 5.5.2 command not recognized');
            }
        };

        // `raw` is everything between the DATA reply and the final CRLF.CRLF, the last CRLF of
        // the message included.
        const endOfData = (raw) => {
            const tx = state.tx;
            state.mode = 'command';
            state.tx = null;
            state.data = null;
            const text = raw.toString('utf8');
            const data = text
                .split('\r\n')
                .map((line) => (line.startsWith('.') ? line.slice(1) : line))
                .join('\r\n');
            const failure = tx.failure && tx.failure.at === 'END' ? tx.failure : null;
            if (failure) {
                reply(`${failure.code} ${failure.text}`);
                return;
            }
            const messageId = crypto.randomBytes(6).toString('hex');
            let parsed;
            try {
                parsed = parseMessage(data);
            } catch (error) {
                parsed = { error: String(error) };
            }
            standin.record({
                id: messageId,
                from: tx.from,
                rcpt: tx.rcpt,
                data,
                tls: state.tls,
                auth: state.auth,
                parsed,
                at: Date.now(),
            });
            reply(`250 2.0.0 queued as ${messageId}`);
        };

        // In DATA mode: look for the terminating CRLF.CRLF in what came so far, scanning only the
        // new bytes (and the 4 before them). The DATA command's own CRLF counts as the line break
        // before a first line of '.'. Bytes after the terminator go back to command reading.
        const takeData = (incoming) => {
            const data = state.data;
            const combined = Buffer.concat([data.tail, incoming]);
            const offset = data.length - data.tail.length; // position of combined[0] in the data
            const at = combined.indexOf('\r\n.\r\n');
            if (at < 0) {
                data.chunks.push(incoming);
                data.length += incoming.length;
                data.tail = combined.subarray(Math.max(0, combined.length - 4));
                return false;
            }
            const all = Buffer.concat([...data.chunks, incoming]);
            state.buffer = all.subarray(offset + at + 5);
            endOfData(all.subarray(0, offset + at + 2));
            return true;
        };

        function onData(chunk) {
            if (state.closed) return;
            state.buffer = state.buffer.length === 0 ? chunk : Buffer.concat([state.buffer, chunk]);
            try {
                while (!state.closed) {
                    if (state.mode === 'data') {
                        const incoming = state.buffer;
                        state.buffer = Buffer.alloc(0);
                        if (!takeData(incoming)) return;
                        continue;
                    }
                    const nl = state.buffer.indexOf(0x0a);
                    if (nl < 0) {
                        if (state.buffer.length > MAX_LINE) {
                            reply('500 5.5.6 line too long');
                            close();
                        }
                        return;
                    }
                    let line = state.buffer.subarray(0, nl).toString('utf8');
                    if (line.endsWith('\r')) line = line.slice(0, -1);
                    state.buffer = state.buffer.subarray(nl + 1);
                    standin.log.push({ session: id, dir: 'C', line });
                    const socketBefore = state.socket;
                    if (state.mode === 'auth-plain') {
                        if (line === '*') {
                            state.mode = 'command';
                            reply('501 5.0.0 authentication cancelled');
                        } else {
                            plainResponse(line);
                        }
                    } else if (state.mode === 'auth-login-user') {
                        const user = line === '*' ? null : fromBase64(line);
                        if (user === null) {
                            state.mode = 'command';
                            reply(line === '*' ? '501 5.0.0 authentication cancelled' : '501 5.5.2 cannot decode response');
                        } else {
                            state.loginUser = user;
                            state.mode = 'auth-login-pass';
                            reply('334 UGFzc3dvcmQ6');
                        }
                    } else if (state.mode === 'auth-login-pass') {
                        const pass = line === '*' ? null : fromBase64(line);
                        if (pass === null) {
                            state.mode = 'command';
                            reply(line === '*' ? '501 5.0.0 authentication cancelled' : '501 5.5.2 cannot decode response');
                        } else {
                            authOk(state.loginUser, pass);
                        }
                    } else {
                        command(line);
                    }
                    if (state.socket !== socketBefore) return; // upgraded to TLS: the rest is dropped
                }
            } catch (error) {
                // A stand-in bug must not take the test process down; tell the client.
                reply(`451 4.3.0 stand-in error: ${String(error && error.message).replace(/[\r\n]/g, ' ')}`);
                close();
            }
        }

        attach(rawSocket);
        reply('220 localhost ESMTP standin');
    }
}

module.exports = { SmtpStandin, parseMessage, decodeWords, decodeQuotedPrintable };
