'use strict';
/*
 * Finds a native addon of this package: the one built from source when there is one
 * (build/Release: a checkout, another platform, or `npm install --build-from-source`), else
 * the prebuilt binary shipped in the npm tarball (prebuilds/<platform>-<arch>/<name>.node,
 * with the shared libraries it needs beside it in prebuilds/<platform>-<arch>/lib).
 */
const fs = require('fs');
const os = require('os');
const path = require('path');

/* RTLD_DEEPBIND: the addon's references bind to its own libraries (simdjson, libcurl and its
 * TLS library) before those of the node executable, which exports its bundled copies of
 * simdjson and OpenSSL: Node 22's simdjson and OpenSSL 3.5 taken for Debian's simdjson and
 * libssl 3.0 crash at the first parse. Not under AddressSanitizer, which refuses the flag
 * (its runtime is preloaded then: scripts/test-node.sh --asan). */
const DL = os.constants.dlopen || {};
const DLOPEN_FLAGS =
    DL.RTLD_DEEPBIND && !/libasan/.test(process.env.LD_PRELOAD || '')
        ? DL.RTLD_NOW | DL.RTLD_LOCAL | DL.RTLD_DEEPBIND
        : null;

const opened = new Map();

function open(file) {
    if (DLOPEN_FLAGS === null) return require(file);
    let exports = opened.get(file);
    if (!exports) {
        const m = { exports: {} };
        process.dlopen(m, file, DLOPEN_FLAGS);
        exports = m.exports;
        opened.set(file, exports);
    }
    return exports;
}

const root = path.join(__dirname, '..', '..');

/** Where the addon `name` may be, in the order tried. */
function candidates(name) {
    return [
        path.join(root, 'build', 'Release', name + '.node'),
        path.join(root, 'build', 'Debug', name + '.node'),
        path.join(root, 'prebuilds', process.platform + '-' + process.arch, name + '.node'),
    ];
}

/** Loads the addon `name`; throws an Error naming every place tried when none loads. */
function loadAddon(name) {
    const tried = [];
    for (const p of candidates(name)) {
        if (!fs.existsSync(p)) {
            tried.push(p);
            continue;
        }
        try {
            return open(p);
        } catch (e) {
            // A binary that is there but does not load (wrong libc, missing library) is
            // reported as is: falling through to another one would hide the cause.
            e.message = 'tokenwire: could not load ' + p + ': ' + e.message;
            throw e;
        }
    }
    const err = new Error(
        'tokenwire: no native addon ' + name + '.node for ' + process.platform + '-' +
            process.arch + ' (looked for ' + tried.join(', ') + '); run `npm rebuild tokenwire` ' +
            'to build it from source (needs a C compiler, libcurl and simdjson)',
    );
    err.code = 'ERR_TOKENWIRE_NO_ADDON';
    throw err;
}

module.exports = { loadAddon, candidates, open };
