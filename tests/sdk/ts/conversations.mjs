// The conversation calls letta-code makes, with the official TypeScript SDK against a live
// server whose fake model echoes. Reads {"base_url", "model"} as JSON on stdin; writes what
// the SDK returned as JSON on stdout. The assertions live in the test.
import { readFileSync } from 'node:fs';
import Letta from '@letta-ai/letta-client';

const say = (text, otid) => [{ role: 'user', content: text, ...(otid ? { otid } : {}) }];

async function collect(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

async function items(page) {
  const all = [];
  for await (const item of page) all.push(item);
  return all;
}

const failure = async (call) => {
  try {
    await call();
    return null;
  } catch (error) {
    return { status: error.status, body: error.error };
  }
};

const request = JSON.parse(readFileSync(0, 'utf8'));
const client = new Letta({ baseURL: request.base_url, apiKey: 'unused', maxRetries: 0 });
const agent = await client.agents.create({ model: request.model });
const created = await client.conversations.create({
  agent_id: agent.id,
  isolated_block_labels: [],
  summary: 'chat',
});
const sent = await collect(
  await client.conversations.messages.create(created.id, {
    messages: say('hello', 'otid-ts'),
    streaming: true,
    stream_tokens: false,
    include_pings: true,
  }),
);
const resumed = await collect(
  await client.conversations.messages.stream(created.id, {
    otid: 'otid-ts',
    starting_after: 0,
    batch_size: 1000,
  }),
);
const direct = await collect(
  await client.conversations.messages.create('default', {
    agent_id: agent.id,
    messages: say('direct'),
  }),
);
const seen = {
  agent_id: agent.id,
  created,
  sent,
  resumed,
  direct,
  listed: await items(client.conversations.messages.list(created.id, { order: 'asc' })),
  main: await items(client.conversations.messages.list('default', { agent_id: agent.id })),
  by_last_run: await client.conversations.list({
    agent_id: agent.id,
    limit: 10,
    order: 'desc',
    order_by: 'last_run_completion',
  }),
  updated: await client.conversations.update(created.id, { summary: 'renamed' }),
  retrieved: await client.conversations.retrieve(created.id),
  cancel_idle: await failure(() => client.conversations.cancel(agent.id)),
};
const fork = await client.conversations.fork(created.id);
seen.fork = fork;
seen.forked = await items(client.conversations.messages.list(fork.id, { order: 'asc' }));
await client.conversations.delete(fork.id);
seen.after_delete = await failure(() => client.conversations.retrieve(fork.id));
seen.unknown = await failure(() =>
  client.conversations.retrieve('conv-00000000-0000-4000-8000-000000000000'),
);
process.stdout.write(JSON.stringify(seen));
