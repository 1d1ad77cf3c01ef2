/* ESM entry: the same module as the CommonJS one (one addon instance per thread). */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const tw = require('./index.js');

export const {
    version,
    SSEParser,
    Decoder,
    Client,
    Stream,
    MergedStream,
    merge,
    streamHeaders,
    configure,
    stats,
    TokenwireError,
    HTTPError,
    TimeoutError,
    ProtocolError,
    ProviderError,
    ConnectionError,
    AbortError,
} = tw;
export default tw;
