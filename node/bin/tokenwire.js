#!/usr/bin/env node
'use strict';
/* `npx tokenwire ...`: the tokenwire command line (stream, parse, mock), the same program as
 * the C build's out/release/tokenwire and the Python package's console script. */
const tools = require('../lib/tools');

process.exitCode = tools.cliMain(['tokenwire'].concat(process.argv.slice(2)));
