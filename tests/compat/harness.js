'use strict';
// Shared harness for the compat tests: one real trackd per test file, on its own database.
//
//   const trackd = await startTrackd();
//   trackd.baseUrl      'http://127.0.0.1:<port>'
//   trackd.workspace    {name, site_id, api_key, write_key} of workspace "compat"
//   await trackd.query('SELECT ...')   rows as plain objects (jsonb columns come back parsed)
//   await trackd.stop()                kills the server, drops the database; safe to call twice
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

// Instances not stopped yet, cleaned up synchronously if the process exits or is signalled.
const live = new Set();
let hooksInstalled = false;

function installExitHooks() {
    if (hooksInstalled) return;
    hooksInstalled = true;
    process.on('exit', () => {
        for (const instance of live) instance.stopSync();
    });
    for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
        process.once(signal, () => process.exit(code));
    }
}

class Trackd {
    constructor({ databaseName, databaseUrl, workspace, extraEnv = {} }) {
        this.extraEnv = extraEnv; // settings for every trackd run (TRACKD_FCM_URL, ...)
        this.databaseName = databaseName;
        this.databaseUrl = databaseUrl;
        this.workspace = workspace;
        this.port = null;
        this.baseUrl = null;
        this.child = null;
        this.exited = null; // {code, signal} once the server has exited
        this.output = [];
        this.stopping = false;
        this.stopped = false;
    }

    env(extra = {}) {
        return { ...process.env, DATABASE_URL: this.databaseUrl, ...this.extraEnv, ...extra };
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
        for (const line of chunk.toString('utf8').split('\n')) {
            if (line === '') continue;
            this.output.push(line);
            if (this.output.length > OUTPUT_LINES_KEPT) this.output.shift();
        }
    }

    // Starts `trackd serve` on a free port and waits for GET /healthz to answer 200. A port taken
    // between picking and binding shows as an early exit: such a start is retried on a new port.
    async serve() {
        let lastError;
        for (let attempt = 1; attempt <= 3; attempt++) {
            this.port = await freePort();
            this.baseUrl = `http://127.0.0.1:${this.port}`;
            this.output = [];
            this.exited = null;
            const child = spawn(TRACKD_BIN, ['serve'], {
                cwd: REPO_ROOT,
                env: this.env({ TRACKD_LISTEN: `127.0.0.1:${this.port}`, TRACKD_LOG_LEVEL: 'warn' }),
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
                await this.waitUntilHealthy();
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

    async waitUntilHealthy() {
        const deadline = Date.now() + READY_TIMEOUT_MS;
        while (Date.now() < deadline) {
            if (this.exited) {
                const how = this.exited.error
                    ? this.exited.error.message
                    : `code ${this.exited.code}, signal ${this.exited.signal}`;
                throw new Error(`trackd serve exited before it was healthy (${how})\n${this.serverOutput()}`);
            }
            try {
                const response = await fetch(`${this.baseUrl}/healthz`, { signal: AbortSignal.timeout(1000) });
                await response.arrayBuffer();
                if (response.status === 200) return;
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

    // Stops the server and drops the database. Throws if the server had died on its own before
    // (a crash is a failure, even when every assertion passed).
    async stop() {
        if (this.stopped || this.stopping) return;
        this.stopping = true;
        const diedEarly = this.child && this.exited ? { ...this.exited } : null;
        try {
            await this.killServer();
        } finally {
            await run('psql', psqlArgs(baseDatabaseUrl(), dropSql(this.databaseName)));
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
        spawnSync('psql', psqlArgs(baseDatabaseUrl(), dropSql(this.databaseName)), {
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
async function startTrackd({ workspaceName = 'compat', env = {}, rules = [] } = {}) {
    installExitHooks();
    const base = baseDatabaseUrl();
    // Lower case letters, digits and _ only: safe to splice into SQL unquoted.
    const databaseName = `trackd_compat_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
    const trackd = new Trackd({
        databaseName,
        databaseUrl: withDatabase(base, databaseName),
        extraEnv: env,
    });
    await run('psql', psqlArgs(base, `CREATE DATABASE ${databaseName}`));
    live.add(trackd);
    try {
        await run(TRACKD_BIN, ['migrate'], { env: trackd.env() });
        const out = await run(TRACKD_BIN, ['workspace', 'create', workspaceName], { env: trackd.env() });
        trackd.workspace = parseWorkspace(out);
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

module.exports = { startTrackd, withDatabase };
