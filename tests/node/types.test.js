'use strict';
/* node/index.d.ts type-checks a sample that uses the whole public API (tsc --noEmit --strict). */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..', '..');

test('index.d.ts: a strict TypeScript sample compiles against it', () => {
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    assert.ok(fs.existsSync(tsc), 'typescript is installed (devDependency)');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tw-types-'));
    try {
        fs.copyFileSync(path.join(__dirname, 'types_sample.ts'), path.join(dir, 'sample.ts'));
        fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
            compilerOptions: {
                strict: true, noEmit: true, target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext',
                lib: ['ES2022', 'DOM'], types: ['node'], typeRoots: [path.join(root, 'node_modules', '@types')],
                skipLibCheck: false,
                paths: { tokenwire: [path.join(root, 'node', 'index.d.ts')] },
            },
            files: ['sample.ts'],
        }));
        const r = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stdout + r.stderr);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
});
