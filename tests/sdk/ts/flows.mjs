// One turn flow with the official TypeScript SDK against a live server whose fake model the
// test has scripted. Reads {"base_url", "model", "flow"} as JSON on stdin; writes what the
// SDK returned (streams read by the SDK's own parser) as JSON on stdout. The assertions live
// in the test.
import { readFileSync } from 'node:fs';
import Letta from '@letta-ai/letta-client';

const HELLO = [{ role: 'user', content: 'hi' }];

// A memgpt_v2_agent's reply, then a sleeptime primary's reply and its history.
async function send(client, model) {
  const v2 = await client.agents.create({ model, agent_type: 'memgpt_v2_agent' });
  const v2Reply = await client.agents.messages.create(v2.id, { messages: HELLO });
  const v1 = await client.agents.create({ model, enable_sleeptime: true });
  const v1Reply = await client.agents.messages.create(v1.id, { messages: HELLO });
  const history = [];
  for await (const m of client.agents.messages.list(v1.id, { order: 'asc', limit: 100 })) {
    history.push(m);
  }
  return { v2: v2Reply, v1: { agent_type: v1.agent_type, ...v1Reply }, v1_history: history };
}

// Token streams of a memgpt_v2_agent and a sleeptime primary, read by the SDK's stream parser.
async function stream(client, model) {
  const seen = {};
  const kinds = [
    ['v2', { agent_type: 'memgpt_v2_agent' }],
    ['v1', { enable_sleeptime: true }],
  ];
  for (const [name, body] of kinds) {
    const agent = await client.agents.create({ model, ...body });
    const chunks = await client.agents.messages.create(agent.id, {
      messages: HELLO,
      streaming: true,
      stream_tokens: true,
      include_pings: false,
    });
    seen[name] = [];
    for await (const chunk of chunks) seen[name].push(chunk);
  }
  return seen;
}

const described = (error) => ({
  raised: error.constructor.name,
  api_error: error instanceof Letta.APIError,
  status: error.status,
  body: error.error,
});

// Two non-streaming turns the model provider fails (the test scripts how).
async function failure(client, model) {
  const agent = await client.agents.create({ model });
  const errors = [];
  for (let i = 0; i < 2; i += 1) {
    try {
      await client.agents.messages.create(agent.id, { messages: HELLO });
      errors.push({ raised: null });
    } catch (error) {
      if (!(error instanceof Letta.APIError)) throw error;
      errors.push(described(error));
    }
  }
  return { agent_id: agent.id, errors };
}

// A resource this server does not serve, with the SDK's default retry policy.
async function unsupported(baseURL) {
  const requests = [];
  const counting = (url, init) => {
    requests.push(`${init?.method ?? 'GET'} ${new URL(url).pathname}`);
    return fetch(url, init);
  };
  const client = new Letta({ baseURL, fetch: counting });
  try {
    await client.folders.list();
    return { raised: null, requests };
  } catch (error) {
    if (!(error instanceof Letta.APIError)) throw error;
    return { ...described(error), requests };
  }
}

// A message sent with the client's own otid, the history and the agent's context.
async function history(client, model) {
  const agent = await client.agents.create({ model });
  const sent = [{ role: 'user', content: 'remember me', otid: 'sdk-otid-1' }];
  await client.agents.messages.create(agent.id, { messages: sent });
  const messages = [];
  for await (const m of client.agents.messages.list(agent.id, { order: 'asc', limit: 100 })) {
    messages.push(m);
  }
  const state = await client.agents.retrieve(agent.id);
  return { messages, message_ids: state.message_ids };
}

const request = JSON.parse(readFileSync(0, 'utf8'));
let seen;
if (request.flow === 'unsupported') {
  seen = await unsupported(request.base_url);
} else {
  const client = new Letta({ baseURL: request.base_url, maxRetries: 0, timeout: 60_000 });
  const flows = { send, stream, failure, history };
  seen = await flows[request.flow](client, request.model);
}
process.stdout.write(JSON.stringify(seen));
