'use strict';
// TLS for the mobile tests: certificates made at run time with the openssl CLI, an HTTP(S)
// client that controls every header and how the body is cut into chunks, and a way to run a
// harness trackd over HTTPS.
//
//   const tls = makeTlsMaterial(dir)   a test CA, certificates signed by it for trackd and for
//                                      the APNs stand-in, a key that matches neither, and an
//                                      APNs signing key (.p8)
//   await serveHttps(trackd, tls, {env})
//                                      restarts a harness trackd with TRACKD_TLS_CERT/KEY and
//                                      waits until GET /healthz answers over HTTPS
//   await send(url, {method, headers, body | chunks, ca})
//                                      one request on its own connection; resolves with
//                                      {status, headers, text, json, bytesSent}

const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const path = require('node:path');
const { freePort } = require('./harness');

const REQUEST_TIMEOUT_MS = 15_000;

function openssl(dir, args) {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
}

// A key and a certificate for `name`, signed by the CA in `dir`, valid for localhost and
// 127.0.0.1 (the names the tests connect with).
function signedCertificate(dir, name, commonName) {
    openssl(dir, ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', `${name}.key`]);
    openssl(dir, ['req', '-new', '-key', `${name}.key`, '-subj', `/CN=${commonName}`, '-out', `${name}.csr`]);
    fs.writeFileSync(
        path.join(dir, `${name}.ext`),
        [
            'basicConstraints = critical, CA:FALSE',
            'keyUsage = critical, digitalSignature, keyEncipherment',
            'extendedKeyUsage = serverAuth',
            'subjectAltName = DNS:localhost, IP:127.0.0.1',
            '',
        ].join('\n')
    );
    openssl(dir, [
        'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key',
        '-set_serial', `0x${crypto.randomBytes(8).toString('hex')}`, '-days', '2', '-sha256',
        '-extfile', `${name}.ext`, '-out', `${name}.pem`,
    ]);
    return { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
}

// Everything the tests need to speak and serve TLS, as files in `dir` (and PEM text where a
// node server or client wants it).
function makeTlsMaterial(dir) {
    openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', 'ca.key']);
    openssl(dir, [
        'req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=trackd mobile test CA', '-days', '2',
        '-sha256', '-addext', 'basicConstraints=critical,CA:TRUE',
        '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', 'ca.pem',
    ]);
    const server = signedCertificate(dir, 'trackd', 'localhost');
    const apns = signedCertificate(dir, 'apns', 'localhost');
    openssl(dir, ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'stranger.key']);

    // An APNs auth key as Apple hands it out: a PKCS#8 PEM EC P-256 private key (.p8).
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const p8 = path.join(dir, 'AuthKey_TESTKEY123.p8');
    fs.writeFileSync(p8, privateKey.export({ type: 'pkcs8', format: 'pem' }));

    return {
        dir,
        caFile: path.join(dir, 'ca.pem'),
        ca: fs.readFileSync(path.join(dir, 'ca.pem')),
        server,
        apns: { ...apns, certPem: fs.readFileSync(apns.cert), keyPem: fs.readFileSync(apns.key) },
        strangerKey: path.join(dir, 'stranger.key'),
        p8,
        p8PublicKey: publicKey,
    };
}

// One request on a connection of its own. `chunks` (an array of Buffers) is written one chunk at
// a time, `chunkDelayMs` apart, with Transfer-Encoding: chunked and no Content-Length, as an app
// streaming its upload does; writing stops as soon as an answer arrives (the server may answer
// before the upload is over). `body` (a Buffer or string) is sent in one piece with a
// Content-Length. Resolves with the answer and how many body bytes had been written by then.
function send(url, { method = 'POST', headers = {}, body, chunks, chunkDelayMs = 0, ca, timeoutMs = REQUEST_TIMEOUT_MS } = {}) {
    const target = new URL(url);
    const client = target.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
        let bytesSent = 0;
        let answered = false;
        const finalHeaders = { ...headers };
        if (body !== undefined) finalHeaders['Content-Length'] = Buffer.byteLength(body);
        const req = client.request(
            {
                method,
                host: target.hostname,
                port: target.port,
                path: `${target.pathname}${target.search}`,
                headers: finalHeaders,
                ca,
                agent: false,
                timeout: timeoutMs,
            },
            (res) => {
                answered = true;
                const parts = [];
                res.on('data', (part) => parts.push(part));
                res.on('error', reject);
                res.on('end', () => {
                    const text = Buffer.concat(parts).toString('utf8');
                    let json;
                    try {
                        json = JSON.parse(text);
                    } catch {
                        json = undefined;
                    }
                    resolve({ status: res.statusCode, headers: res.headers, text, json, bytesSent });
                    req.destroy();
                });
            }
        );
        req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer within ${timeoutMs} ms`)));
        req.on('error', (error) => {
            // A server that answered early may close while the rest of the body is in flight.
            if (!answered) reject(error);
        });
        if (body !== undefined) {
            bytesSent = Buffer.byteLength(body);
            req.end(body);
            return;
        }
        if (chunks === undefined) {
            req.end();
            return;
        }
        (async () => {
            for (const chunk of chunks) {
                if (answered || req.destroyed) return;
                await new Promise((done) => req.write(chunk, done));
                bytesSent += chunk.length;
                if (chunkDelayMs > 0) await new Promise((r) => setTimeout(r, chunkDelayMs));
            }
            if (!answered && !req.destroyed) req.end();
        })().catch(() => {});
    });
}

// `buffer` cut into `count` chunks of about the same size.
function cut(buffer, count) {
    const size = Math.ceil(buffer.length / count);
    const chunks = [];
    for (let at = 0; at < buffer.length; at += size) chunks.push(buffer.subarray(at, at + size));
    return chunks;
}

// Stops the (plain HTTP) server a harness trackd runs and starts it again over HTTPS with the
// test certificate, plus `env`. The harness still owns the process: trackd.stop() ends it.
async function serveHttps(trackd, tls, { env = {} } = {}) {
    await trackd.killServer();
    await trackd.serve({
        scheme: 'https',
        env: { TRACKD_TLS_CERT: tls.server.cert, TRACKD_TLS_KEY: tls.server.key, ...env },
        healthz: async (url) => (await send(url, { method: 'GET', ca: tls.ca, timeoutMs: 1000 })).status,
    });
}

module.exports = { makeTlsMaterial, send, cut, serveHttps, freePort };
