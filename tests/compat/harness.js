'use strict';
// Shared harness for the compat tests: one real trackd per test file, on its own database.
//
//   const trackd = await startTrackd();
//   trackd.baseUrl      'http://127.0.0.1:<port>'
//   trackd.workspace    {name, site_id, api_key, write_key} of workspace "compat"
//   await trackd.query('SELECT ...')   rows as plain objects (jsonb columns come back parsed)
//   await trackd.exec('INSERT ...')    any SQL; psql's unaligned output
//   await trackd.stop()                kills the server, drops the database; safe to call twice
//
// Options of startTrackd beyond the basics (used by the reliability tests):
//   databaseUrl: 'postgresql://...'   the server to create the database on (default:
//                                      TRACKD_TEST_DATABASE_URL), e.g. a PrivateCluster's
//   logLevel: 'debug'                  TRACKD_LOG_LEVEL of the server (default 'warn')
//   transcript: true                   keep every byte the server prints in trackd.transcript
//   workspaces: ['other']              more workspaces, in trackd.workspaces[name]
//   trackd.pid, trackd.signal('SIGTERM', ms), trackd.serve({env}) for per-run settings.
//   PrivateCluster: a PostgreSQL of its own (scripts/pg.sh) that a test may stop and start.
//
// Environment (set by the ctest entry):
//   TRACKD_BIN                path to build/trackd (default: <repo>/build/trackd)
//   TRACKD_TEST_DATABASE_URL  libpq URI of a PostgreSQL where this harness may create databases
//
// Only psql is used to reach PostgreSQL (no driver package), and everything that may hang is
// bounded in time. If the test process dies before stop(), an exit hook still kills the server
// and drops the database.

const { spawn, spawnSync, execFile } = require('node:child_process');
const crypto = require('node:crypto');
const net = require('node:net');
const path = require('node:path');

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const TRACKD_BIN = process.env.TRACKD_BIN || path.join(REPO_ROOT, 'build', 'trackd');
const COMMAND_TIMEOUT_MS = 60_000;
const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;
const OUTPUT_LINES_KEPT = 200;
const TRANSCRIPT_MAX_CHARS = 64 * 1024 * 1024;

function baseDatabaseUrl() {
    const url = process.env.TRACKD_TEST_DATABASE_URL;
    if (!url) {
        throw new Error(
            'TRACKD_TEST_DATABASE_URL is not set: run these tests through `make test`, or point it ' +
                'at a PostgreSQL where databases may be created (scripts/pg.sh url DIR)'
        );
    }
    return url;
}

// The URL of database `name` on the same server as `url`: a libpq URI gets its path replaced
// (the query string, which may carry host=/socket/dir, is kept); a key=value conninfo gets dbname.
function withDatabase(url, name) {
    const uri = /^(postgres(?:ql)?:\/\/[^/?#]*)(\/[^?#]*)?(\?[^#]*)?$/.exec(url);
    if (uri) {
        return `${uri[1]}/${name}${uri[3] ?? ''}`;
    }
    const dbname = /(^|\s)dbname\s*=\s*('(?:[^'\\]|\\.)*'|\S+)/;
    return dbname.test(url) ? url.replace(dbname, `$1dbname=${name}`) : `${url} dbname=${name}`;
}

// Runs a program to completion; rejects with its output when it fails or runs too long.
function run(file, args, { env = process.env, timeout = COMMAND_TIMEOUT_MS } = {}) {
    return new Promise((resolve, reject) => {
        execFile(
            file,
            args,
            { cwd: REPO_ROOT, env, timeout, maxBuffer: 16 * 1024 * 1024 },
            (error, stdout, stderr) => {
                if (error) {
                    if (error.code === 'ENOENT') {
                        reject(new Error(`${file} not found (is it built / installed?)`));
                        return;
                    }
                    const why = error.killed ? `killed after ${timeout} ms` : `exit ${error.code}`;
                    reject(
                        new Error(
                            `${file} ${args.join(' ')} failed (${why})\n` +
                                `stdout:\n${stdout}\nstderr:\n${stderr}`
                        )
                    );
                } else {
                    resolve(stdout);
                }
            }
        );
    });
}

function psqlArgs(url, sql) {
    return ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql];
}

// Rows of a SELECT as objects, through json_agg so that NULLs, numbers and jsonb survive intact.
async function queryRows(url, sql) {
    const select = sql.trim().replace(/;+\s*$/, '');
    const out = await run('psql', psqlArgs(url, `SELECT coalesce(json_agg(q), '[]') FROM (${select}) q`));
    return JSON.parse(out);
}

function freePort() {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.unref();
        server.on('error', reject);
        server.listen(0, '127.0.0.1', () => {
            const { port } = server.address();
            server.close(() => resolve(port));
        });
    });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Instances (and private clusters) not stopped yet, cleaned up synchronously if the process
// exits or is signalled.
const live = new Set();
const liveClusters = new Set();
let hooksInstalled = false;

function installExitHooks() {
    if (hooksInstalled) return;
    hooksInstalled = true;
    process.on('exit', () => {
        for (const instance of live) instance.stopSync();
        for (const cluster of liveClusters) cluster.destroySync();
    });
    for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
        process.once(signal, () => process.exit(code));
    }
}

class Trackd {
    constructor({
        databaseName,
        databaseUrl,
        workspace,
        extraEnv = {},
        serverUrl = null,
        logLevel = 'warn',
        transcript = false,
    }) {
        this.extraEnv = extraEnv; // settings for every trackd run (TRACKD_FCM_URL, ...)
        this.databaseName = databaseName;
        this.databaseUrl = databaseUrl;
        this.serverUrl = serverUrl; // where the database was created (null: the default)
        this.logLevel = logLevel;
        this.keepTranscript = transcript;
        this.transcript = ''; // everything the server printed, over every run, if kept
        this.workspace = workspace;
        this.workspaces = {}; // name -> {name, site_id, api_key, write_key}
        this.exitExpected = false; // set by signal(): an exit it caused is no crash
        this.port = null;
        this.baseUrl = null;
        this.child = null;
        this.exited = null; // {code, signal} once the server has exited
        this.output = [];
        this.stopping = false;
        this.stopped = false;
    }

    // Every compat client connects from 127.0.0.1, so the caps per client address are off here
    // (the http_limits suite tests them, with clients on 127.0.0.2 and .3).
    env(extra = {}) {
        return {
            TRACKD_MAX_CONNECTIONS_PER_ADDRESS: '0',
            TRACKD_MAX_UPLOADS_PER_ADDRESS: '0',
            ...process.env,
            DATABASE_URL: this.databaseUrl,
            ...this.extraEnv,
            ...extra,
        };
    }

    // Runs a trackd command (`rules load ...`) against this server's database; resolves with
    // its stdout, rejects with its output when it fails.
    cli(args) {
        return run(TRACKD_BIN, args, { env: this.env() });
    }

    // The server's recent stdout and stderr, for failure messages.
    serverOutput() {
        return this.output.join('\n');
    }

    keepOutput(chunk) {
        if (this.keepTranscript && this.transcript.length < TRANSCRIPT_MAX_CHARS) {
            this.transcript += chunk.toString('utf8');
        }
        for (const line of chunk.toString('utf8').split('\n')) {
            if (line === '') continue;
            this.output.push(line);
            if (this.output.length > OUTPUT_LINES_KEPT) this.output.shift();
        }
    }

    // Starts `trackd serve` on a free port and waits for GET /healthz to answer 200. A port taken
    // between picking and binding shows as an early exit: such a start is retried on a new port.
    // For HTTPS (TRACKD_TLS_CERT in env): scheme 'https', and `healthz(url)` resolving with the
    // status of a GET that trusts the test's CA (fetch cannot be given one).
    async serve({ env = {}, scheme = 'http', healthz = null } = {}) {
        let lastError;
        this.exitExpected = false;
        for (let attempt = 1; attempt <= 3; attempt++) {
            this.port = await freePort();
            this.baseUrl = `${scheme}://127.0.0.1:${this.port}`;
            this.output = [];
            this.exited = null;
            const child = spawn(TRACKD_BIN, ['serve'], {
                cwd: REPO_ROOT,
                env: this.env({
                    TRACKD_LISTEN: `127.0.0.1:${this.port}`,
                    TRACKD_LOG_LEVEL: this.logLevel,
                    ...env,
                }),
                stdio: ['ignore', 'pipe', 'pipe'],
            });
            this.child = child;
            child.stdout.on('data', (chunk) => this.keepOutput(chunk));
            child.stderr.on('data', (chunk) => this.keepOutput(chunk));
            child.on('exit', (code, signal) => {
                this.exited = { code, signal };
            });
            child.on('error', (error) => {
                this.exited = { code: null, signal: null, error };
            });
            try {
                await this.waitUntilHealthy(healthz);
                return;
            } catch (error) {
                lastError = error;
                const exitedOnItsOwn = this.exited;
                await this.killServer();
                // Only an early exit may be a lost race for the port; a hang or a binary that
                // cannot run will not get better.
                if (!exitedOnItsOwn || exitedOnItsOwn.error) break;
            }
        }
        throw lastError;
    }

    async waitUntilHealthy(healthz = null) {
        const deadline = Date.now() + READY_TIMEOUT_MS;
        while (Date.now() < deadline) {
            if (this.exited) {
                const how = this.exited.error
                    ? this.exited.error.message
                    : `code ${this.exited.code}, signal ${this.exited.signal}`;
                throw new Error(`trackd serve exited before it was healthy (${how})\n${this.serverOutput()}`);
            }
            try {
                if (healthz) {
                    if ((await healthz(`${this.baseUrl}/healthz`)) === 200) return;
                } else {
                    const response = await fetch(`${this.baseUrl}/healthz`, { signal: AbortSignal.timeout(1000) });
                    await response.arrayBuffer();
                    if (response.status === 200) return;
                }
            } catch {
                // not listening yet
            }
            await sleep(50);
        }
        throw new Error(`trackd serve was not healthy within ${READY_TIMEOUT_MS} ms\n${this.serverOutput()}`);
    }

    // SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT_MS.
    async killServer() {
        const child = this.child;
        if (!child || this.exited) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
    }

    query(sql) {
        return queryRows(this.databaseUrl, sql);
    }

    // Runs SQL that is not a plain SELECT (data-modifying WITH, INSERT ... RETURNING); resolves
    // with what psql printed, unaligned and without headers.
    exec(sql) {
        return run('psql', psqlArgs(this.databaseUrl, sql));
    }

    // The server's process id (null when none runs).
    get pid() {
        return this.child && !this.exited ? this.child.pid : null;
    }

    // Sends `signal` to the server and waits up to `timeoutMs` for it to exit; resolves with
    // {code, signal, ms} (ms: from the signal to the exit), or {timedOut: true, ms} after which
    // the server is SIGKILLed. An exit caused this way does not count as a crash in stop().
    async signal(signal, timeoutMs = STOP_TIMEOUT_MS) {
        const child = this.child;
        if (!child || this.exited) throw new Error('trackd serve is not running');
        this.exitExpected = true;
        const started = Date.now();
        const exited = new Promise((resolve) => child.once('exit', (code, sig) => resolve({ code, signal: sig })));
        child.kill(signal);
        let timer;
        const timedOut = new Promise((resolve) => {
            timer = setTimeout(() => resolve(null), timeoutMs);
        });
        const result = await Promise.race([exited, timedOut]);
        clearTimeout(timer);
        if (result === null) {
            child.kill('SIGKILL');
            await exited;
            return { timedOut: true, ms: Date.now() - started };
        }
        return { ...result, ms: Date.now() - started };
    }

    // Stops the server and drops the database. Throws if the server had died on its own before
    // (a crash is a failure, even when every assertion passed).
    async stop() {
        if (this.stopped || this.stopping) return;
        this.stopping = true;
        const diedEarly = this.child && this.exited && !this.exitExpected ? { ...this.exited } : null;
        try {
            await this.killServer();
        } finally {
            await run('psql', psqlArgs(this.serverUrl ?? baseDatabaseUrl(), dropSql(this.databaseName)));
            this.stopped = true;
            live.delete(this);
        }
        if (diedEarly) {
            throw new Error(
                `trackd serve died during the test (code ${diedEarly.code}, signal ${diedEarly.signal})\n` +
                    this.serverOutput()
            );
        }
    }

    // Last resort from the exit hook: nothing asynchronous can run there any more.
    stopSync() {
        if (this.stopped) return;
        if (this.child && !this.exited) this.child.kill('SIGKILL');
        spawnSync('psql', psqlArgs(this.serverUrl ?? baseDatabaseUrl(), dropSql(this.databaseName)), {
            stdio: 'ignore',
            timeout: 10_000,
        });
        this.stopped = true;
    }
}

function dropSql(name) {
    // FORCE ends sessions a killed server may have left behind.
    return `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`;
}

// Creates a fresh database, migrates it, creates a workspace, loads `rules` (paths, if any) into
// it and starts a server on it with `env` added to its environment.
async function startTrackd({
    workspaceName = 'compat',
    env = {},
    rules = [],
    databaseUrl = null,
    logLevel = 'warn',
    transcript = false,
    workspaces = [],
} = {}) {
    installExitHooks();
    const base = databaseUrl ?? baseDatabaseUrl();
    // Lower case letters, digits and _ only: safe to splice into SQL unquoted.
    const databaseName = `trackd_compat_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
    const trackd = new Trackd({
        databaseName,
        databaseUrl: withDatabase(base, databaseName),
        extraEnv: env,
        serverUrl: databaseUrl,
        logLevel,
        transcript,
    });
    await run('psql', psqlArgs(base, `CREATE DATABASE ${databaseName}`));
    live.add(trackd);
    try {
        await run(TRACKD_BIN, ['migrate'], { env: trackd.env() });
        const out = await run(TRACKD_BIN, ['workspace', 'create', workspaceName], { env: trackd.env() });
        trackd.workspace = parseWorkspace(out);
        trackd.workspaces[workspaceName] = trackd.workspace;
        for (const name of workspaces) {
            const more = await run(TRACKD_BIN, ['workspace', 'create', name], { env: trackd.env() });
            trackd.workspaces[name] = parseWorkspace(more);
        }
        if (rules.length > 0) {
            await trackd.cli(['rules', 'load', '--workspace', workspaceName, ...rules]);
        }
        await trackd.serve();
    } catch (error) {
        await trackd.stop().catch(() => {});
        throw error;
    }
    return trackd;
}

// `trackd workspace create` prints one JSON object (on one line or pretty-printed).
function parseWorkspace(stdout) {
    const start = stdout.indexOf('{');
    const end = stdout.lastIndexOf('}');
    let workspace;
    try {
        workspace = JSON.parse(stdout.slice(start, end + 1));
    } catch {
        throw new Error(`trackd workspace create printed no JSON object: ${JSON.stringify(stdout)}`);
    }
    for (const key of ['name', 'site_id', 'api_key', 'write_key']) {
        if (typeof workspace[key] !== 'string' || workspace[key] === '') {
            throw new Error(`trackd workspace create: "${key}" missing in ${JSON.stringify(workspace)}`);
        }
    }
    return workspace;
}

// A PostgreSQL cluster of a test's own (scripts/pg.sh, TRACKD_PG_FAST=1), which the test may
// stop and start without disturbing the suites that share the cluster of make test. Always
// destroy() it (in `after`); the exit hook destroys one left behind.
const PG_SH = path.join(REPO_ROOT, 'scripts', 'pg.sh');

class PrivateCluster {
    constructor(dir) {
        this.dir = dir;
        this.url = null;
    }

    pgsh(command) {
        return run('bash', [PG_SH, command, this.dir], {
            env: { ...process.env, TRACKD_PG_FAST: '1' },
            timeout: 90_000,
        });
    }

    async start() {
        installExitHooks();
        liveClusters.add(this);
        await this.pgsh('start');
        this.url = (await this.pgsh('url')).trim();
        return this.url;
    }

    stop() {
        return this.pgsh('stop');
    }

    async destroy() {
        try {
            await this.pgsh('destroy');
        } finally {
            liveClusters.delete(this);
        }
    }

    destroySync() {
        spawnSync('bash', [PG_SH, 'destroy', this.dir], { stdio: 'ignore', timeout: 60_000 });
        liveClusters.delete(this);
    }
}

// A psql session kept open (its input is a pipe) to hold locks: send(sql) writes statements and
// resolves once psql has printed `marker` (send 'SELECT 1 AS marker' style queries to know where
// it got to); end() closes its input and waits for it to exit.
class PsqlSession {
    constructor(url) {
        this.child = spawn('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', url], {
            stdio: ['pipe', 'pipe', 'pipe'],
        });
        this.out = '';
        this.child.stdout.on('data', (chunk) => (this.out += chunk.toString('utf8')));
        this.child.stderr.on('data', (chunk) => (this.out += chunk.toString('utf8')));
        this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    }

    async send(sql, marker, timeoutMs = 10_000) {
        this.child.stdin.write(`${sql}\n`);
        const deadline = Date.now() + timeoutMs;
        while (!this.out.includes(marker)) {
            if (Date.now() > deadline) throw new Error(`psql did not print ${marker}: ${this.out}`);
            await sleep(20);
        }
    }

    async end(timeoutMs = 10_000) {
        this.child.stdin.end();
        const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
        const code = await this.exited;
        clearTimeout(timer);
        return code;
    }
}

module.exports = { startTrackd, withDatabase, PrivateCluster, PsqlSession, sleep, freePort, REPO_ROOT };
