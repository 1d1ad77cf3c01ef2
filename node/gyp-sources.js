'use strict';
/* Lists the C/C++ sources binding.gyp compiles: the whole C core (framing, JSON, dialects,
 * encoders, engine), the mock server (a private binding the tests and benchmarks use) and
 * the addon itself. A folder that does not exist yet is skipped. Paths are relative to the
 * package root, where node-gyp runs this script. */
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const dirs = ['csrc', 'csrc/dialects', 'csrc/encoders', 'csrc/engine', 'csrc/mock', 'node/src'];
const out = [];
for (const d of dirs) {
    let names;
    try {
        names = fs.readdirSync(path.join(root, d));
    } catch (e) {
        continue;
    }
    for (const n of names.sort()) {
        if (n.endsWith('.c') || n.endsWith('.cc')) out.push(d + '/' + n);
    }
}
process.stdout.write(out.join('\n') + '\n');
