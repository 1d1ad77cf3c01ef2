'use strict';
/* The mock LLM server in its own process, so the benchmark's CPU numbers hold only the
 * client's work. Prints the port on stdout; exits when stdin closes. */
const tools = require('../../node/lib/tools.js');

const h = tools._mockStart(0, Number(process.argv[2] || 1));
process.stdout.write(String(tools._mockPort(h)) + '\n');
process.stdin.resume();
process.stdin.on('end', () => {
    tools._mockStop(h);
    process.exit(0);
});
