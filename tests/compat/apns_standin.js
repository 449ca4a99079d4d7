'use strict';
// A stand-in for Apple's push service (the APNs provider API): HTTP/2 over TLS on 127.0.0.1.
// It checks every request the way APNs does and answers as APNs would:
//   - POST /3/device/{token}, else 404 BadPath / 405 MethodNotAllowed;
//   - authorization: bearer <JWT>, ES256, header kid = the key id, claims iss = the team id and
//     an iat no older than an hour, signature valid for the .p8's public key; else 403
//     (MissingProviderToken, InvalidProviderToken, ExpiredProviderToken);
//   - apns-topic = the app's bundle id (else 400 MissingTopic / 400 TopicDisallowed),
//     apns-push-type: alert (else 400 InvalidPushType), a JSON body (else 400 PayloadEmpty).
// A test chooses answers per token (410 Unregistered, ...). Every request is recorded, with what
// was wrong with it, and sessions (connections) are counted.

const crypto = require('node:crypto');
const http2 = require('node:http2');

const TOKEN_MAX_AGE_S = 3600;

function base64urlJson(text) {
    return JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
}

class ApnsStandin {
    // tls: {certPem, keyPem}; expect: {publicKey, keyId, teamId, topic}.
    constructor({ certPem, keyPem }, expect) {
        this.expect = expect;
        this.requests = []; // {path, token, headers, body, jwt: {header, claims}, problem, status, session}
        this.answers = new Map(); // token -> {status, reason}
        this.sessions = 0; // connections opened so far
        this.open = new Set();
        this.server = http2.createSecureServer({ cert: certPem, key: keyPem, allowHTTP1: false });
        this.server.on('session', (session) => {
            this.sessions += 1;
            session.standinId = this.sessions;
            this.open.add(session);
            session.on('close', () => this.open.delete(session));
            session.on('error', () => {});
        });
        this.server.on('stream', (stream, headers) => this.handle(stream, headers));
    }

    async start() {
        await new Promise((resolve, reject) => {
            this.server.once('error', reject);
            this.server.listen(0, '127.0.0.1', resolve);
        });
        this.url = `https://127.0.0.1:${this.server.address().port}`;
        return this.url;
    }

    stop() {
        return new Promise((resolve) => {
            this.server.close(() => resolve());
            // Open sessions keep close() waiting; end them.
            for (const session of this.open) session.destroy();
        });
    }

    // The next pushes to `token` are answered `status` with {"reason": reason}.
    answer(token, status, reason) {
        this.answers.set(token, { status, reason });
    }

    to(token) {
        return this.requests.filter((r) => r.token === token);
    }

    // Why APNs would refuse the JWT, or null when it is good.
    checkJwt(authorization) {
        const match = /^bearer ([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(authorization ?? '');
        if (!match) return { status: 403, reason: 'MissingProviderToken' };
        let header;
        let claims;
        try {
            header = base64urlJson(match[1]);
            claims = base64urlJson(match[2]);
        } catch {
            return { status: 403, reason: 'InvalidProviderToken' };
        }
        const signed = crypto.verify(
            'sha256',
            Buffer.from(`${match[1]}.${match[2]}`),
            { key: this.expect.publicKey, dsaEncoding: 'ieee-p1363' },
            Buffer.from(match[3], 'base64url')
        );
        const now = Date.now() / 1000;
        const jwt = { header, claims, text: `${match[1]}.${match[2]}.${match[3]}` };
        if (header.alg !== 'ES256' || header.kid !== this.expect.keyId || claims.iss !== this.expect.teamId || !signed) {
            return { status: 403, reason: 'InvalidProviderToken', jwt };
        }
        if (typeof claims.iat !== 'number' || claims.iat > now + 60) {
            return { status: 403, reason: 'InvalidProviderToken', jwt };
        }
        if (claims.iat < now - TOKEN_MAX_AGE_S) return { status: 403, reason: 'ExpiredProviderToken', jwt };
        return { status: 200, jwt };
    }

    handle(stream, headers) {
        const parts = [];
        stream.on('data', (part) => parts.push(part));
        stream.on('error', () => {});
        stream.on('end', () => {
            const path = headers[':path'];
            const text = Buffer.concat(parts).toString('utf8');
            let body;
            try {
                body = JSON.parse(text);
            } catch {
                body = undefined;
            }
            const token = /^\/3\/device\/([^/?]+)$/.exec(path)?.[1] ?? null;
            const auth = this.checkJwt(headers.authorization);
            const request = {
                path,
                token,
                headers: { ...headers },
                body,
                jwt: auth.jwt ?? null,
                session: stream.session?.standinId,
            };
            let answer;
            if (token === null) answer = { status: 404, reason: 'BadPath' };
            else if (headers[':method'] !== 'POST') answer = { status: 405, reason: 'MethodNotAllowed' };
            else if (auth.status !== 200) answer = auth;
            else if (!headers['apns-topic']) answer = { status: 400, reason: 'MissingTopic' };
            else if (headers['apns-topic'] !== this.expect.topic) answer = { status: 400, reason: 'TopicDisallowed' };
            else if (headers['apns-push-type'] !== 'alert') answer = { status: 400, reason: 'InvalidPushType' };
            else if (body === undefined || typeof body !== 'object') answer = { status: 400, reason: 'PayloadEmpty' };
            else answer = this.answers.get(token) ?? { status: 200 };
            request.status = answer.status;
            request.problem = answer.status === 200 ? null : answer.reason;
            this.requests.push(request);

            const reply = { ':status': answer.status, 'apns-id': crypto.randomUUID() };
            if (answer.status === 200) {
                stream.respond(reply, { endStream: true });
                return;
            }
            reply['content-type'] = 'application/json';
            stream.respond(reply);
            const out = { reason: answer.reason };
            if (answer.status === 410) out.timestamp = Date.now();
            stream.end(JSON.stringify(out));
        });
    }

    // Waits until `predicate()` holds, polling; rejects after `ms`.
    async waitFor(predicate, ms = 20_000, what = 'the condition') {
        const deadline = Date.now() + ms;
        while (Date.now() < deadline) {
            if (await predicate()) return;
            await new Promise((r) => setTimeout(r, 50));
        }
        throw new Error(`timed out waiting for ${what}`);
    }
}

module.exports = { ApnsStandin };
