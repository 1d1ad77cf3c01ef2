import Chat from './chat';

export default function Page() {
  return (
    <main>
      <h1>tokenwire + Next.js</h1>
      <p>
        <code>/api/chat</code> relays the model as an AI SDK UI message stream; <code>/api/agents</code> merges two
        agents into one event stream. Both are parsed and encoded in C.
      </p>
      <Chat />
    </main>
  );
}
