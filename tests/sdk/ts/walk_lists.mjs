// Walk every list with the official TypeScript SDK's own pagination (`for await ... of`).
// Reads {"base_url", "world", "page"} as JSON on stdin; writes
// {"version", "walks": {name: [keys]}, "unpaged": {...}} as JSON on stdout. The SDK has no
// groups resource: the group lists go through the client's generic getAPIList, with the same
// ArrayPage paginator.
import { readFileSync } from 'node:fs';
import Letta from '@letta-ai/letta-client';
import { ArrayPage } from '@letta-ai/letta-client/pagination';

const ENDLESS = 1000; // no list here is that long: a walk past it would never have ended
const byId = (item) => item.id;
const messageKey = (message) => `${message.id}/${message.message_type}`;

async function collect(items, key) {
  const seen = [];
  for await (const item of items) {
    seen.push(key(item));
    if (seen.length > ENDLESS) throw new Error(`the walk did not end: ${seen.slice(0, 10)}`);
  }
  return seen;
}

// Tags come as a plain array of strings, without the SDK's paginator: page by hand.
async function tags(client, limit) {
  const seen = [];
  let batch = await client.tags.list({ limit });
  while (batch.length > 0) {
    seen.push(...batch);
    if (seen.length > ENDLESS) throw new Error('the tag walk did not end');
    batch = await client.tags.list({ limit, after: batch[batch.length - 1] });
  }
  return seen;
}

async function walks(client, world, limit) {
  const generic = (path, query) => client.getAPIList(path, ArrayPage, { query });
  return {
    agents: await collect(client.agents.list({ limit }), byId),
    agent_tools: await collect(client.agents.tools.list(world.agent, { limit }), byId),
    core_memory: await collect(client.agents.blocks.list(world.agent, { limit }), byId),
    blocks: await collect(client.blocks.list({ limit }), byId),
    block_agents: await collect(client.blocks.agents.list(world.shared_block, { limit }), byId),
    runs: await collect(client.runs.list({ limit }), byId),
    run_steps: await collect(client.runs.steps.list(world.run, { limit }), byId),
    tools: await collect(client.tools.list({ limit }), byId),
    agent_messages: await collect(
      client.agents.messages.list(world.agent, { limit, order: 'asc' }),
      messageKey,
    ),
    run_messages: await collect(client.runs.messages.list(world.run, { limit }), messageKey),
    tags: await tags(client, limit),
    groups: await collect(generic('/v1/groups/', { limit }), byId),
    agent_groups: await collect(generic(`/v1/agents/${world.sleeptime}/groups`, { limit }), byId),
    group_messages: await collect(
      generic(`/v1/groups/${world.group}/messages`, { limit, order: 'asc' }),
      messageKey,
    ),
  };
}

const request = JSON.parse(readFileSync(0, 'utf8'));
const client = new Letta({ baseURL: request.base_url, maxRetries: 0, timeout: 30_000 });
const manifest = new URL('./node_modules/@letta-ai/letta-client/package.json', import.meta.url);
const result = {
  version: JSON.parse(readFileSync(manifest, 'utf8')).version,
  walks: await walks(client, request.world, request.page),
  unpaged: {
    models: (await client.models.list()).map((m) => m.handle),
    embedding_models: (await client.models.embeddings.list()).map((m) => m.handle),
  },
};
process.stdout.write(JSON.stringify(result));
