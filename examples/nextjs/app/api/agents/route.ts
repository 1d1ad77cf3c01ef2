import { merge, streamHeaders } from 'tokenwire';
import { chatPath, client, model, readMessages, upstreamQuery } from '@/lib/llm';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

/*
 * POST /api/agents -> two agents streamed at once and merged, in arrival order, into one SSE
 * stream of agent_start / agent_chunk / agent_complete / complete events.
 */
export async function POST(req: Request) {
  const messages = await readMessages(req);
  const query = upstreamQuery(req);
  const agent = (role: string) =>
    client.stream(chatPath, {
      json: { model, stream: true, messages: [{ role: 'system', content: role }, ...messages] },
      query,
      signal: req.signal,
    });
  const merged = merge({ researcher: agent('You research.'), writer: agent('You write.') });
  return new Response(merged.toReadableStream({ format: 'events' }), {
    headers: streamHeaders('events'),
  });
}
