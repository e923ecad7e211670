// ollama-js (the `ollama` npm package) against ollamaweb's native /api routes, configured as the
// docs say: host plus an Authorization header. Prints the results as one JSON object on stdout
// for tests/api/test_ollama_js.py to check.
import { Ollama } from 'ollama'

const ollama = new Ollama({
  host: process.env.OLLAMAWEB_HOST,
  headers: { Authorization: `Bearer ${process.env.OLLAMAWEB_API_KEY}` },
})

const chat = await ollama.chat({ model: 'llama3', messages: [{ role: 'user', content: 'Say this is a test' }] })

const parts = []
for await (const part of await ollama.chat({
  model: 'llama3',
  messages: [{ role: 'user', content: 'Say this is a test' }],
  stream: true,
})) {
  parts.push(part)
}

const generate = await ollama.generate({ model: 'llama3', prompt: 'Why is the sky blue?' })
const embed = await ollama.embed({ model: 'all-minilm', input: ['why is the sky blue?', 'why is the grass green?'] })
const list = await ollama.list()
const show = await ollama.show({ model: 'llama3' })
const ps = await ollama.ps()

let denied = null
try {
  await ollama.pull({ model: 'mistral' })
} catch (error) {
  denied = { name: error.name, status: error.status_code, message: error.message }
}

const anonymous = new Ollama({ host: process.env.OLLAMAWEB_HOST })
let unauthenticated = null
try {
  await anonymous.list()
} catch (error) {
  unauthenticated = { name: error.name, status: error.status_code, message: error.message }
}

console.log(JSON.stringify({ chat, parts, generate, embed, list, show, ps, denied, unauthenticated }))
