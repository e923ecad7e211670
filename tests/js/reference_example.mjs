// The reference page's "OpenAI JavaScript library" example, verbatim except that baseURL and
// apiKey come from the environment (OLLAMAWEB_BASE_URL, OLLAMAWEB_API_KEY). It prints the
// results as one JSON object on stdout for tests/api/test_reference_examples.py to check.
import OpenAI from 'openai'

const openai = new OpenAI({
  baseURL: process.env.OLLAMAWEB_BASE_URL,
  apiKey: process.env.OLLAMAWEB_API_KEY,
})

const chatCompletion = await openai.chat.completions.create({
  messages: [{ role: 'user', content: 'Say this is a test' }],
  model: 'llama3',
})

const listCompletion = await openai.models.list()

const model = await openai.models.retrieve("llama3");

const embedding = await openai.embeddings.create({
  model: "all-minilm",
  input: ["why is the sky blue?", "why is the grass green?"],
});

console.log(JSON.stringify({
  chatCompletion,
  listCompletion: listCompletion.data,
  model,
  embedding,
}))
