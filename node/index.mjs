/* ESM entry: the same module as the CommonJS one (one addon instance per thread). */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const tw = require('./index.js');

export const {
    version,
    SSEParser,
    Decoder,
    Client,
    Request,
    Stream,
    MergedStream,
    merge,
    streamHeaders,
    Encoder,
    websocketRelay,
    Relay,
    RelayClosedError,
    RedisTee,
    resumeResponse,
    resumeStream,
    parseEventId,
    ResumeNotFoundError,
    RedisUnavailableError,
    eventToJSON,
    configure,
    stats,
    TYPES,
    KINDS,
    DIALECTS,
    FORMATS,
    AUTH,
    DEFAULT_TIMEOUTS,
    TokenwireError,
    HTTPError,
    ProviderError,
    TimeoutError,
    ProtocolError,
    TransportError,
    TruncatedError,
    AbortError,
    errorClass,
} = tw;
export default tw;
