'use strict';
/* The mock LLM server in its own process, so the benchmark's CPU numbers hold only the
 * client's work. Prints the port on stdout; exits when stdin closes. */
const tw = require('../../node/index.js');

const h = tw._binding._mockStart(0, Number(process.argv[2] || 1));
process.stdout.write(String(tw._binding._mockPort(h)) + '\n');
process.stdin.resume();
process.stdin.on('end', () => {
    tw._binding._mockStop(h);
    process.exit(0);
});
