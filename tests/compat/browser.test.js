'use strict';
// A website sending to trackd: headless Chromium (Debian's package, driven by playwright-core)
// loads a page from another origin than trackd, which loads @customerio/cdp-analytics-browser
// with cdnURL pointed at trackd. The SDK fetches its settings from trackd, then posts to the
// one-letter paths with text/plain bodies and the write key in the body.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { chromium } = require('playwright-core');
const { startTrackd } = require('./harness');

const SUITE_TIMEOUT_MS = 120_000;
const CHROMIUM = process.env.TRACKD_CHROMIUM || '/usr/bin/chromium';
const SDK_DIR = path.join(__dirname, 'node_modules', '@customerio', 'cdp-analytics-browser', 'dist', 'umd');

// The page: the SDK served next to it, as examples/web does.
const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>shop</title></head><body>
<script src="/sdk/index.js"></script>
<script>
  const q = new URLSearchParams(location.search);
  window.analytics = AnalyticsNext.AnalyticsBrowser.load({ writeKey: q.get('writeKey'), cdnURL: q.get('trackd') });
</script></body></html>`;

// Serves the page and the SDK on a port of its own: another origin than trackd.
function startSite() {
    const server = http.createServer((req, res) => {
        const url = new URL(req.url, 'http://x');
        if (url.pathname === '/shop.html') {
            res.writeHead(200, { 'Content-Type': 'text/html' });
            return res.end(PAGE);
        }
        if (url.pathname.startsWith('/sdk/')) {
            const file = path.join(SDK_DIR, path.basename(url.pathname));
            if (fs.existsSync(file)) {
                res.writeHead(200, { 'Content-Type': 'application/javascript' });
                return res.end(fs.readFileSync(file));
            }
        }
        res.writeHead(404);
        res.end();
    });
    return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('the browser SDK in Chromium against trackd', { timeout: SUITE_TIMEOUT_MS }, () => {
    let trackd;
    let site;
    let browser;

    before(async () => {
        trackd = await startTrackd();
        site = await startSite();
        browser = await chromium.launch({
            executablePath: CHROMIUM,
            args: [
                '--headless',
                '--no-sandbox',
                '--disable-gpu',
                '--disable-quic',
                '--no-first-run',
                '--disable-background-networking',
                '--disable-component-update',
                '--disable-sync',
            ],
        });
    });

    after(async () => {
        await browser?.close();
        site?.close();
        await trackd?.stop();
    });

    async function waitForRows(sql, predicate, what) {
        const deadline = Date.now() + 20_000;
        let rows = [];
        while (Date.now() < deadline) {
            rows = await trackd.query(sql);
            if (predicate(rows)) return rows;
            await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`timed out waiting for ${what}: ${JSON.stringify(rows)}`);
    }

    it('tracks a visit anonymously, then joins it to the person on identify', async () => {
        const page = await browser.newPage();
        const requests = [];
        page.on('request', (r) => requests.push(`${r.method()} ${new URL(r.url()).pathname}`));
        const siteUrl = `http://127.0.0.1:${site.address().port}/shop.html`;
        await page.goto(`${siteUrl}?writeKey=${trackd.workspace.write_key}&trackd=${encodeURIComponent(trackd.baseUrl)}`);

        const anonymousId = await page.evaluate(async () => {
            await window.analytics.page('Pricing', { plan: 'pro' });
            await window.analytics.track('Viewed Plans', { count: 3 });
            const [instance] = await window.analytics;
            return instance.user().anonymousId();
        });
        assert.ok(anonymousId, 'the SDK made an anonymous id');
        const anonymous = await waitForRows(
            `SELECT type, name, person_id, context->'page'->>'url' AS url FROM events
              WHERE anonymous_id = '${anonymousId.replace(/'/g, "''")}' ORDER BY name`,
            (rows) => rows.length === 2,
            'the anonymous page and track'
        );
        assert.deepEqual(
            anonymous.map((r) => [r.type, r.name, r.person_id]),
            [
                ['page', 'Pricing', null],
                ['event', 'Viewed Plans', null],
            ]
        );
        assert.ok(anonymous[0].url.startsWith(siteUrl), 'the page context is stored');

        await page.evaluate(async () => {
            await window.analytics.identify('web-user-1', { email: 'web@example.com' });
            await window.analytics.track('Signed Up', {});
        });
        const joined = await waitForRows(
            `SELECT e.name, e.origin, p.customer_id FROM events e JOIN people p ON p.id = e.person_id
              WHERE p.customer_id = 'web-user-1' ORDER BY e.name`,
            (rows) => rows.length === 3,
            'the events of web-user-1'
        );
        assert.deepEqual(
            joined.map((r) => [r.name, r.origin]),
            [
                ['Pricing', 'anonymous_merge'],
                ['Signed Up', 'direct'],
                ['Viewed Plans', 'anonymous_merge'],
            ]
        );
        const [person] = await trackd.query(`SELECT email FROM people WHERE customer_id = 'web-user-1'`);
        assert.equal(person.email, 'web@example.com');

        // What the SDK did on the wire: settings first, then the short paths.
        assert.ok(requests.includes(`GET /v1/projects/${trackd.workspace.write_key}/settings`), requests.join('\n'));
        assert.ok(requests.includes('POST /v1/p') && requests.includes('POST /v1/t') && requests.includes('POST /v1/i'));
        await page.close();
    });

    it('refuses a page whose write key is wrong, and stores nothing', async () => {
        const response = await fetch(`${trackd.baseUrl}/v1/t`, {
            method: 'POST',
            headers: { 'Content-Type': 'text/plain', Origin: 'http://elsewhere.example' },
            body: JSON.stringify({ anonymousId: 'x', event: 'Nope', writeKey: 'not-a-key' }),
        });
        assert.equal(response.status, 401);
        assert.equal(response.headers.get('access-control-allow-origin'), '*');
        const settings = await fetch(`${trackd.baseUrl}/v1/projects/not-a-key/settings`);
        assert.equal(settings.status, 404);
        assert.deepEqual(await trackd.query(`SELECT id FROM events WHERE name = 'Nope'`), []);
    });

    it('answers CORS preflights and sendBeacon posts', async () => {
        const preflight = await fetch(`${trackd.baseUrl}/v1/t`, {
            method: 'OPTIONS',
            headers: {
                Origin: 'http://shop.example',
                'Access-Control-Request-Method': 'POST',
                'Access-Control-Request-Headers': 'authorization,content-type',
            },
        });
        assert.equal(preflight.status, 204);
        assert.match(preflight.headers.get('access-control-allow-methods'), /POST/);
        assert.match(preflight.headers.get('access-control-allow-headers'), /Authorization/);
        assert.ok(Number(preflight.headers.get('access-control-max-age')) > 0);

        const page = await browser.newPage();
        await page.goto(`http://127.0.0.1:${site.address().port}/shop.html?writeKey=x&trackd=${encodeURIComponent(trackd.baseUrl)}`);
        const queued = await page.evaluate(
            ({ url, key }) =>
                navigator.sendBeacon(
                    `${url}/v1/t`,
                    JSON.stringify({ anonymousId: 'beacon-1', event: 'Left Page', writeKey: key })
                ),
            { url: trackd.baseUrl, key: trackd.workspace.write_key }
        );
        assert.ok(queued);
        await waitForRows(
            `SELECT name FROM events WHERE anonymous_id = 'beacon-1'`,
            (rows) => rows.length === 1,
            'the beacon'
        );
        await page.close();
    });
});
