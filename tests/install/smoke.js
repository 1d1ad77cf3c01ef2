'use strict';
/* Smoke test of the installed npm tarball (scripts/test-dist.sh runs it in a fresh npm project
 * after `npm install --ignore-scripts`, with no compiler and no system libcurl around): the
 * prebuilt addon loads without the tools addon, ldd resolves every non-glibc library inside
 * the package, `npx tokenwire mock` serves, and a stream and a node:http relay deliver the
 * mock's exact text. Run from the npm project's directory. */
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const http = require('http');
const path = require('path');
const { Readable } = require('stream');

const SYSTEM = ['linux-vdso', 'ld-linux', 'libc.so', 'libm.so', 'libpthread.so', 'libdl.so',
    'librt.so', 'libresolv.so', 'libutil.so', 'libstdc++.so', 'libgcc_s.so'];

function fail(msg) {
    console.error('smoke.js: FAIL: ' + msg);
    process.exit(1);
}

const pkg = path.resolve('node_modules', 'tokenwire');
const tw = require('tokenwire');
const maps = fs.readFileSync('/proc/self/maps', 'utf8');
const loaded = [...new Set(maps.split('\n').map((l) => l.split(/\s+/)[5] || '').filter((f) => f.endsWith('.node')))];
if (loaded.length !== 1 || !loaded[0].endsWith(path.join('prebuilds', 'linux-x64', 'tokenwire.node'))) {
    fail('expected only the prebuilt tokenwire.node, mapped: ' + loaded.join(', '));
}
if (maps.includes('tokenwire_tools')) fail("require('tokenwire') mapped the tools addon");
if (maps.includes('/usr/lib/x86_64-linux-gnu/libcurl')) fail('the system libcurl was mapped');

const pre = path.join(pkg, 'prebuilds', 'linux-x64');
for (const name of fs.readdirSync(pre).filter((n) => n.endsWith('.node'))) {
    const out = spawnSync('ldd', [path.join(pre, name)], { encoding: 'utf8' }).stdout;
    for (const line of out.split('\n')) {
        const parts = line.trim().split(/\s+/);
        const at = parts.indexOf('=>');
        if (at < 0) continue;
        const lib = parts[0];
        const target = parts[at + 1];
        if (target === 'not') fail(`${name}: ${lib} not found`);
        if (!SYSTEM.some((s) => lib.startsWith(s)) && !fs.realpathSync(target).startsWith(pkg)) {
            fail(`${name}: ${lib} resolves outside the package (${target})`);
        }
    }
}
console.log('smoke.js: every library of the prebuilds resolves inside the package');
// Each addon exports its Node-API entry points and nothing else.
for (const name of ['tokenwire.node', 'tokenwire_tools.node']) {
    const out = spawnSync('nm', ['-D', '--defined-only', path.join(pre, name)], { encoding: 'utf8' }).stdout;
    const syms = out.split('\n').map((l) => l.trim().split(/\s+/)[2]).filter(Boolean).sort();
    const want = ['napi_register_module_v1', 'node_api_module_get_api_version_v1'];
    if (JSON.stringify(syms) !== JSON.stringify(want)) fail(`${name} exports ${syms.slice(0, 10)}`);
}

const npx = spawnSync('npx', ['--no-install', 'tokenwire', '--version'], { encoding: 'utf8' });
if (npx.status !== 0 || npx.stdout.trim() !== 'tokenwire ' + tw.version) {
    fail('npx tokenwire --version: ' + npx.status + ' ' + npx.stdout + npx.stderr);
}

function firstLine(stream) {
    return new Promise((resolve, reject) => {
        let buf = '';
        stream.setEncoding('utf8');
        stream.on('data', function onData(d) {
            buf += d;
            const nl = buf.indexOf('\n');
            if (nl >= 0) {
                stream.off('data', onData);
                resolve(buf.slice(0, nl));
            }
        });
        stream.on('end', () => reject(new Error('mock exited: ' + buf)));
    });
}

async function main() {
    const bin = path.resolve('node_modules', '.bin', 'tokenwire');
    const mock = spawn(bin, ['mock', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
        const line = await firstLine(mock.stdout);
        if (!line.includes('listening on http://')) throw new Error('tokenwire mock said ' + line);
        const base = line.split('listening on ')[1].trim();
        const want = require(path.join(pkg, 'node', 'lib', 'tools.js'))._mockExpectedText(12);
        const client = new tw.Client({ baseURL: base + '/v1', apiKey: 'k', maxRetries: 0 });
        const body = { model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] };

        let got = '';
        for await (const t of client.stream('/chat/completions?chunks=12', { json: body }).text()) got += t;
        if (got !== want) throw new Error(`stream text ${JSON.stringify(got)} != ${JSON.stringify(want)}`);

        const srv = http.createServer((req, res) => {
            const s = client.stream('/chat/completions?chunks=12', { json: body });
            res.writeHead(200, tw.streamHeaders('text'));
            Readable.fromWeb(s.toReadableStream({ format: 'text' })).pipe(res);
        });
        await new Promise((r) => srv.listen(0, '127.0.0.1', r));
        const r = await fetch(`http://127.0.0.1:${srv.address().port}/`, { method: 'POST' });
        const relayed = await r.text();
        srv.close();
        if (r.status !== 200 || relayed !== want) throw new Error(`relay answered ${r.status} ${relayed.slice(0, 200)}`);
    } finally {
        mock.kill();
    }
    console.log(`smoke.js: tokenwire ${tw.version} on node ${process.version}: npx, stream, relay ok`);
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
