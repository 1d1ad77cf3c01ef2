import { streamHeaders, type RelayFormat } from 'tokenwire';
import { chatPath, client, model, readMessages, upstreamQuery } from '@/lib/llm';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

/*
 * POST /api/ndjson -> an unbuffered NDJSON router in the app's own line schema (the same as
 * examples/ndjson_router.py), written by tokenwire's core per event:
 *   {"type":"chat","content":"Hel","streaming":true}
 *   {"type":"done","usage":{"input_tokens":9,"output_tokens":20,"total_tokens":29}}
 * The template is compiled once per request by the core; no JSON.stringify per token.
 */
const LINES: RelayFormat = {
  template: {
    framing: 'ndjson',
    events: {
      text: { data: { type: 'chat', content: '{text}', streaming: true } },
      error: { data: { type: 'error', kind: '{kind}', message: '{text}' } },
    },
    finish: { data: { type: 'done', usage: '{usage}' } },
  },
};

export async function POST(req: Request) {
  const messages = await readMessages(req);
  const stream = client.stream(chatPath, {
    json: { model, stream: true, messages, stream_options: { include_usage: true } },
    query: upstreamQuery(req),
    signal: req.signal,
  });
  return new Response(stream.toReadableStream({ format: LINES }), {
    headers: streamHeaders(LINES),
  });
}
