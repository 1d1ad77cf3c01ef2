import { streamHeaders } from 'tokenwire';
import { chatPath, client, model, readMessages, upstreamQuery } from '@/lib/llm';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

/*
 * POST /api/chat -> the Vercel AI SDK UI message stream, encoded in C by tokenwire.
 * The headers stop Next.js and proxies from buffering; heartbeat comments keep idle proxies
 * from closing the connection while the model thinks. A browser that goes away cancels the
 * body stream, which cancels the upstream request.
 */
export async function POST(req: Request) {
  const messages = await readMessages(req);
  const stream = client.stream(chatPath, {
    json: { model, stream: true, messages, stream_options: { include_usage: true } },
    query: upstreamQuery(req),
    signal: req.signal,
  });
  return new Response(stream.toReadableStream({ format: 'ai-sdk' }), {
    headers: streamHeaders('ai-sdk'),
  });
}
