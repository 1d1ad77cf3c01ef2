'use strict';
/* The tools addon (tokenwire_tools.node): the mock LLM server the tests and benchmarks run,
 * and the command line behind `npx tokenwire`. Not loaded by require('tokenwire'). */
const { loadAddon } = require('./native');

module.exports = loadAddon('tokenwire_tools');
