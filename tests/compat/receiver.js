'use strict';
// A local HTTP receiver standing in for FCM and webhook targets: it records every request and
// answers according to a per-path behaviour the test sets. Only 127.0.0.1.

const http = require('node:http');

class Receiver {
    constructor() {
        this.requests = []; // {method, path, headers, body (parsed JSON or text), at}
        this.behaviours = new Map(); // path -> async (request, count) => {status, body}
        this.counts = new Map();
        this.server = http.createServer((req, res) => this.handle(req, res));
    }

    // Starts listening on `port` (a free one by default); resolves with the base URL. A stopped
    // receiver can start again on its old port, to play a target coming back from an outage.
    async start(port = 0) {
        await new Promise((resolve, reject) => {
            this.server.once('error', reject);
            this.server.listen(port, '127.0.0.1', resolve);
        });
        this.baseUrl = `http://127.0.0.1:${this.server.address().port}`;
        return this.baseUrl;
    }

    stop() {
        this.server.closeAllConnections?.();
        return new Promise((resolve) => this.server.close(() => resolve()));
    }

    // behaviour(request, n) answers the n-th request (1-based) to `path`.
    on(path, behaviour) {
        this.behaviours.set(path, behaviour);
    }

    handle(req, res) {
        let data = '';
        req.on('data', (chunk) => (data += chunk));
        req.on('end', async () => {
            let body = data;
            try {
                body = JSON.parse(data);
            } catch {
                // kept as text
            }
            const request = { method: req.method, path: req.url, headers: req.headers, body, at: Date.now() };
            this.requests.push(request);
            const n = (this.counts.get(req.url) ?? 0) + 1;
            this.counts.set(req.url, n);
            const behaviour = this.behaviours.get(req.url) ?? (() => ({ status: 200, body: {} }));
            const answer = await behaviour(request, n);
            if (answer === null) return; // never answer (the test closes it)
            res.writeHead(answer.status, { 'Content-Type': 'application/json' });
            res.end(JSON.stringify(answer.body ?? {}));
        });
    }

    to(path) {
        return this.requests.filter((r) => r.path === path);
    }

    // Waits until `predicate()` holds, polling; rejects after `ms`.
    async waitFor(predicate, ms = 20000, what = 'the condition') {
        const deadline = Date.now() + ms;
        while (Date.now() < deadline) {
            if (await predicate()) return;
            await new Promise((r) => setTimeout(r, 50));
        }
        throw new Error(`timed out waiting for ${what}`);
    }
}

module.exports = { Receiver };
