/* Compiled with `tsc --noEmit` by types.test.js: the public API as a user writes it. */
import {
    Client, SSEParser, Decoder, merge, streamHeaders, configure, stats, HTTPError, ProviderError,
    TokenwireError, TruncatedError, TransportError, eventToJSON, errorClass, DEFAULT_TIMEOUTS, KINDS,
    type Event, type Summary, type SSEEvent, type Metrics, type ErrorKind, type FinishReason,
    Relay, RelayClosedError, Encoder, type MergeResult,
} from 'tokenwire';

const p = new SSEParser({ maxEventSize: 1 << 20, lastEventId: '41' });
const evs: SSEEvent[] = p.feed(new Uint8Array([100, 97, 116, 97, 58, 10, 10]));
const id: string = p.lastEventId;
p.finish();

const d = new Decoder('anthropic');
const normalized: Event[] = [...d.feed('event: x\n\n'), ...d.finish()];
for (const ev of normalized) {
    if (ev.type === 'text') ev.text.toUpperCase();
    if (ev.type === 'tool_call') void (ev.arguments ?? '');
    if (ev.type === 'usage') void ((ev.inputTokens ?? 0) + (ev.outputTokens ?? 0));
    if (ev.type === 'error' && ev.recoverable) void [ev.kind, ev.name];
    const line: string = eventToJSON(ev);
    void line;
}
const decoded: Omit<Summary, 'metrics'> = d.summary();
const fr: FinishReason | null = decoded.finishReason;
const kinds: readonly ErrorKind[] = KINDS;
const idle: number = DEFAULT_TIMEOUTS.idle;
void [fr, kinds, idle, errorClass('truncated')];

const client = new Client({ baseURL: 'http://127.0.0.1:1/v1', apiKey: 'k', dialect: 'openai', timeout: { idle: 1000 }, maxRetries: 1 });
const azure = new Client({ baseURL: 'https://x.openai.azure.com/openai/deployments/d', apiKey: 'k', auth: 'azure' });
void azure.stream('/chat/completions', { query: { 'api-version': '2024-10-21' }, json: {} });
client.prewarm();
const ac = new AbortController();
const s = client.stream('/chat/completions', { json: { model: 'm' }, signal: ac.signal, headers: { 'X-A': '1' } });
s.on('text', (t: string) => t.length);
s.on('end', (sum: Summary) => {
    const m: Metrics | null = sum.metrics;
    void m;
    void sum.toolCalls.map((t) => t.arguments.length);
    void [sum.finishReasonRaw, sum.choices[0]?.text, sum.usage?.totalTokens, sum.end, sum.error?.kind,
        sum.recoverableErrors, m?.streamed, m?.generationTime, m?.tokensPerSecond];
});
s.on('usage', (u) => void u.totalTokens);
s.on('error', (e: Error) => {
    if (e instanceof HTTPError) void e.status;
    if (e instanceof ProviderError) void e.code;
    if (e instanceof TruncatedError || e instanceof TransportError) void e.kind;
    if (e instanceof TokenwireError) void e.body;
});
async function consume(): Promise<string> {
    let out = '';
    for await (const ev of s) if (ev.type === 'text') out += ev.text;
    for await (const t of client.stream('/x').text()) out += t;
    const sum: Summary = await client.stream('/x').finalSummary();
    return out + sum.text;
}
void consume;
const rs: ReadableStream<Uint8Array> = client.stream('/x').toReadableStream({ format: 'ai-sdk', heartbeatMs: 5000 });
const resumed = client.stream('/x').toReadableStream({ format: 'events', eventIds: { prefix: 'run-1', firstSeq: 12 } });
const storedId: string | null = resumed.streamId;
const nextSeq: number | null = resumed.nextEventSeq();
void storedId;
void nextSeq;
const idsStream = client.stream('/x');
void idsStream.toReadableStream({ eventIds: true });
const sid: string | null = idsStream.streamId;
void sid;
void merge({ a: client.stream('/x') }).toReadableStream({ eventIds: 'm-1' }).streamId;
const res: Response = new Response(rs, { headers: streamHeaders('ai-sdk') });
const tpl = { events: { text: { event: 'answer_streaming', data: { token: '{text}' } }, usage: null }, finish: { event: 'complete', data: { usage: '{usage}' } } } as const;
void client.stream('/x').toReadableStream({ format: { template: tpl }, eventIds: true }).streamId;
void merge({ a: client.stream('/x') }).toResponse({ format: { template: '{"framing": "ndjson"}' } });
void streamHeaders({ template: { framing: 'ndjson' } })['content-type'];
const merged = merge({ a: client.stream('/x'), b: client.stream('/y') });
merged.on('event', (ev) => void ev.source);
const res2: Response = merged.toResponse({ format: 'events' });
configure({ ioThreads: 1 });
const n: number = stats().activeStreams;
const quiet = new Client({ baseURL: 'http://127.0.0.1:1', retrySent: true, accumulate: false, caFile: '/etc/ssl/ca.pem',
    timeout: { paused: 60000, total: 120000 } });
const qs = quiet.stream('/x', { retrySent: false, accumulate: true });
qs.on('end', (sum: Summary) => {
    const t: string | null = sum.text;
    const ra: number = (sum.metrics as Metrics).retryAfter;
    void [t, ra];
});
qs.on('error', (e: Error) => {
    if (e instanceof HTTPError) {
        const after: number | null = e.retryAfter;
        void after;
    }
});
const relay = new Relay({ format: 'events', eventIds: true, heartbeatMs: 0 });
relay.send('status', { state: 'thinking' });
relay.progress(0.5, 'writing');
void (async () => {
    const sum: Summary = await relay.pipe(client.stream('/x'));
    const mr: MergeResult = await relay.pipe(merge({ a: client.stream('/y') }));
    await relay.close(['complete', { response: sum.text, n: Object.keys(mr).length }]);
})().catch((e: unknown) => void (e instanceof RelayClosedError));
const relayRes: Response = relay.toResponse({ headers: { 'x-a': '1' } });
const phased = new Encoder('ndjson', { phases: true });
const app: Buffer = Buffer.concat([phased.send('a', 1), phased.progress(1), phased.close(['done', null])]);
void [evs, id, res, res2, n, relayRes, app];
