'use strict';
/* Lists the C/C++ sources of one binding.gyp target, relative to the package root (where
 * node-gyp runs this script):
 *   core   the C core (framing, JSON, dialects, encoders, engine, Redis tee): the twcore
 *          static library
 *   addon  the Node-API binding (node/src)
 *   tools  the mock server and the command line (tools/, minus the CLI's main()) + node/tools,
 *          with the argument helpers they share with the addon (node/src/args.c) */
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const sets = {
    core: ['csrc', 'csrc/dialects', 'csrc/encoders', 'csrc/engine', 'csrc/tee'],
    addon: ['node/src'],
    tools: ['tools/mock', 'tools/cli', 'node/tools'],
};

function list(dir) {
    return fs
        .readdirSync(path.join(root, dir))
        .sort()
        .filter((n) => n.endsWith('.c') || n.endsWith('.cc'))
        .map((n) => dir + '/' + n);
}

const which = process.argv[2];
if (!sets[which]) {
    process.stderr.write('gyp-sources.js: expected one of ' + Object.keys(sets).join(', ') + '\n');
    process.exit(2);
}
let out = [].concat(...sets[which].map(list));
if (which === 'tools') out = out.filter((p) => p !== 'tools/cli/main.c').concat('node/src/args.c');
process.stdout.write(out.join('\n') + '\n');
