'use strict';
// Load and measurement helpers for the reliability tests: plain fetch (keep-alive) calls that
// record how each one ended, concurrent client loops bounded in count and time, and the resident
// memory of a process. Only 127.0.0.1.

const fs = require('node:fs');
const http = require('node:http');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function basic(user, password = '') {
    return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

// One HTTP call; never throws. Resolves with {status, retryAfter, body, ms, error, started}:
// status 0 and `error` (the cause's code or message) when no answer came.
async function call(url, { method = 'POST', auth, body, timeoutMs = 10_000, headers = {} } = {}) {
    const started = Date.now();
    try {
        const response = await fetch(url, {
            method,
            headers: {
                ...(auth ? { Authorization: auth } : {}),
                ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
                ...headers,
            },
            body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
            signal: AbortSignal.timeout(timeoutMs),
        });
        const text = await response.text();
        return {
            status: response.status,
            retryAfter: response.headers.get('retry-after'),
            body: text,
            ms: Date.now() - started,
            error: null,
            started,
        };
    } catch (error) {
        const cause = error.cause ?? error;
        return {
            status: 0,
            retryAfter: null,
            body: null,
            ms: Date.now() - started,
            error: typeof cause.code === 'string' ? cause.code : cause.name ?? String(cause.message ?? cause),
            started,
        };
    }
}

// One request on a connection of its own (no keep-alive pool): resolves with {status, ms} or
// {status: 0, error, ms}; never throws.
function fresh(port, method, path, { auth, body, timeoutMs = 5_000 } = {}) {
    const started = Date.now();
    return new Promise((resolve) => {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const request = http.request(
            {
                host: '127.0.0.1',
                port,
                method,
                path,
                agent: false,
                timeout: timeoutMs,
                headers: {
                    Connection: 'close',
                    ...(auth ? { Authorization: auth } : {}),
                    ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {}),
                },
            },
            (response) => {
                response.resume();
                response.on('end', () => resolve({ status: response.statusCode, ms: Date.now() - started }));
                response.on('error', (error) => resolve({ status: 0, error: error.code ?? error.message, ms: Date.now() - started }));
            }
        );
        request.on('timeout', () => request.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
        request.on('error', (error) => resolve({ status: 0, error: error.code ?? error.message, ms: Date.now() - started }));
        request.end(payload);
    });
}

// Runs `clients` loops concurrently. Each calls `send(client, i)` (which resolves with a result
// of call(), plus whatever it adds) until `until()` is true, it has sent `maxPerClient` calls, or
// `maxMs` have passed; `stopOnError` ends a loop at its first call without an answer. Resolves
// with every result, in no particular order.
async function runClients({ clients, send, until = () => false, maxPerClient = 100_000, maxMs = 60_000, stopOnError = false }) {
    const deadline = Date.now() + maxMs;
    const results = [];
    await Promise.all(
        Array.from({ length: clients }, async (_, client) => {
            for (let i = 0; i < maxPerClient && !until() && Date.now() < deadline; i++) {
                const result = await send(client, i);
                results.push(result);
                if (stopOnError && result.status === 0) return;
            }
        })
    );
    return results;
}

// A process's resident memory in kB (VmRSS), or null when it is gone.
function rssKb(pid) {
    try {
        const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
        const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
        return match ? Number(match[1]) : null;
    } catch {
        return null;
    }
}

// Samples rssKb(pid) every `everyMs` until stop() is called; stop() resolves with the largest.
function sampleRss(pid, everyMs = 50) {
    let max = rssKb(pid) ?? 0;
    const timer = setInterval(() => {
        const kb = rssKb(pid);
        if (kb !== null && kb > max) max = kb;
    }, everyMs);
    return {
        stop() {
            clearInterval(timer);
            return max;
        },
        get max() {
            return max;
        },
    };
}

// A process's soft limit of open files.
function openFilesLimit(pid = process.pid) {
    try {
        const limits = fs.readFileSync(`/proc/${pid}/limits`, 'utf8');
        const match = /^Max open files\s+(\d+|unlimited)/m.exec(limits);
        if (!match) return null;
        return match[1] === 'unlimited' ? Infinity : Number(match[1]);
    } catch {
        return null;
    }
}

// Polls `predicate()` (may be async) every `everyMs` until it is truthy; resolves with its value,
// or rejects after `ms` naming `what`.
async function waitFor(predicate, { ms = 20_000, everyMs = 100, what = 'the condition' } = {}) {
    const deadline = Date.now() + ms;
    let last;
    while (Date.now() < deadline) {
        last = await predicate();
        if (last) return last;
        await sleep(everyMs);
    }
    throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

// A short tally of results for failure messages: {"200": 812, "503": 40, "ECONNRESET": 2}.
function tally(results) {
    const counts = {};
    for (const r of results) {
        const key = r.status === 0 ? r.error : String(r.status);
        counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
}

module.exports = { sleep, basic, call, fresh, runClients, rssKb, sampleRss, openFilesLimit, waitFor, tally };
