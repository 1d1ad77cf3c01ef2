'use strict';
/* `npm install` hook. When the package carries a prebuilt addon for this platform that loads
 * here (prebuilds/<platform>-<arch>, see node/lib/native.js), there is nothing to do: no
 * compiler is needed. Otherwise (another platform, a checkout, `npm install
 * --build-from-source` or TOKENWIRE_FROM_SOURCE=1) it builds both addons from source with
 * node-gyp into build/Release, which node/lib/native.js then prefers. node-gyp normally downloads the Node
 * headers; when this Node was installed with its headers (Debian's nodejs, the official
 * tarballs) we point it at them so the build needs no network. An explicit
 * npm_config_nodedir wins. */
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');

/* A prebuild is used only if it loads in a fresh process (right libc, every library found). */
function prebuildLoads() {
    const fromSource = (v) => v && v !== 'false' && v !== '0';
    if (fromSource(process.env.TOKENWIRE_FROM_SOURCE) ||
        fromSource(process.env.npm_config_build_from_source)) {
        return false;
    }
    const { candidates } = require('./lib/native');
    const files = ['tokenwire', 'tokenwire_tools'].map((n) => candidates(n).pop());
    if (!files.every((f) => fs.existsSync(f))) return false;
    const native = JSON.stringify(path.join(__dirname, 'lib', 'native.js'));
    const probe = files.map((f) => 'require(' + native + ').open(' + JSON.stringify(f) + ');').join('');
    const r = spawnSync(process.execPath, ['-e', probe], { stdio: 'pipe', encoding: 'utf8' });
    if (r.status === 0) return true;
    console.error('tokenwire: the prebuilt addon does not load here, building from source:\n' +
        (r.stderr || '').split('\n').slice(0, 3).join('\n'));
    return false;
}
if (prebuildLoads()) process.exit(0);
const env = { ...process.env };
if (!env.npm_config_nodedir) {
    const prefix = path.resolve(path.dirname(process.execPath), '..');
    if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
        env.npm_config_nodedir = prefix;
    }
}

/* npm exports the path of its bundled node-gyp; fall back to a node-gyp on PATH. */
let cmd = process.execPath;
let args;
const bundled = env.npm_config_node_gyp;
if (bundled && fs.existsSync(bundled)) {
    args = [bundled];
} else {
    let found = null;
    try {
        found = require.resolve('node-gyp/bin/node-gyp.js', {
            paths: [path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm')],
        });
    } catch (e) {
        found = null;
    }
    if (found) {
        args = [found];
    } else {
        cmd = 'node-gyp';
        args = [];
    }
}
const extra = env.npm_config_nodedir ? ['--nodedir=' + env.npm_config_nodedir] : [];

/* `configure` + `build`, not `rebuild`: rebuild starts with `clean`, which deletes all of
 * build/, where the Makefile keeps the C core's own release and sanitizer builds. */
function run(step, more) {
    const r = spawnSync(cmd, args.concat([step], extra, more), { cwd: root, env, stdio: 'inherit' });
    if (r.error) {
        console.error('tokenwire: could not run node-gyp: ' + r.error.message);
        process.exit(1);
    }
    if (r.status !== 0) process.exit(r.status === null ? 1 : r.status);
}
run('configure', []);
run('build', ['-j', process.env.JOBS || '2']);
