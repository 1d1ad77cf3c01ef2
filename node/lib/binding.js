'use strict';
/*
 * The native addon (node/src) and what the rest of node/lib reads from it instead of copying
 * it by hand: the core's name tables (event types, error kinds, dialects, formats), the ways an
 * API key can be sent, and the request defaults of tw_request_opts_init.
 */
const { loadAddon } = require('./native');

const binding = loadAddon('tokenwire');

/** Event type names, in the core's order (tw_event_type_name). */
const TYPES = Object.freeze(binding.eventTypes.slice(1));
/** Error kinds of error events (tw_error_kind_name), without "none". */
const KINDS = Object.freeze(binding.errorKinds.slice(1));
/** Dialect names (tw_dialect_name). */
const DIALECTS = Object.freeze(binding.dialects.slice());
/** Canonical format names (tw_format_name); 'sse-openai' is also accepted for 'openai'. */
const FORMATS = Object.freeze(binding.formats.slice());
/** Values of the `auth` option: how the API key is sent. */
const AUTH = Object.freeze(binding.auths.slice());

const defaults = binding.requestDefaults;
/** The core's timeout defaults (tw_request_opts_init), in milliseconds; 0 = none. */
const DEFAULT_TIMEOUTS = Object.freeze({ ...defaults.timeout });

/** Record type numbers of packed batches, by name: T.text === 2 ... */
const T = Object.freeze(Object.fromEntries(binding.eventTypes.map((n, i) => [n, i]).filter(([n]) => n !== null)));

module.exports = { binding, TYPES, KINDS, DIALECTS, FORMATS, AUTH, DEFAULT_TIMEOUTS, T };
