// A local stand-in for the Workers AI binding, which has no local mode. Bound to the summarizer
// as `[[services]] binding = "AI", entrypoint = "Ai"`, it is reached by the same
// `env.AI.run(model, inputs, options)` call as Workers AI, over RPC, and answers the way
// Cloudflare's model schemas say each model answers:
//
// - current models (glm, gemma 4, kimi, nemotron, qwen 3.8, deepseek v4): an OpenAI chat
//   completion with `usage`; they reason first unless told not to
//   (`chat_template_kwargs.enable_thinking: false` or `reasoning_effort: "none"`), and reasoning
//   that outgrows the answer budget leaves `content` null with `finish_reason: "length"`;
// - older instruct models (llama 3.3, llama 4 scout, mistral small): `{response, usage}`;
// - unknown or retired models: `5007: No such model … or task`; models on the Paid plan with
//   AI_STANDIN_PLAN=free: `5035`; inputs over the model's window: `3006`; a busy model:
//   `3040: Capacity temporarily exceeded, please try again.` with `rejectIfBusy`, a wait
//   without it.
//
// Its model table is written from Cloudflare's catalog independently of docpipe's own
// (crates/docproc/src/summarize/models.rs), so a mistake in docpipe's table shows here.
//
// The summary is deterministic and drawn from the input: the first sentence, then sentences
// spread over the text, as many as the answer budget holds.
//
// Told to fail:
// - vars: AI_STANDIN_BUSY_PERCENT (busy, spread evenly over calls), AI_STANDIN_FAIL_PERCENT with
//   AI_STANDIN_FAIL_CODE (default 3040), AI_STANDIN_PLAN=free, AI_STANDIN_SHAPE (answer in this
//   shape whatever the model: chat | response | responses | summary);
// - markers in the text: `[[ai-standin fail=3040]]` fails every call carrying it,
//   `[[ai-standin fail=3040 times=2]]` only the first two, `[[ai-standin shape=summary]]`
//   picks the answer's shape.
//
// Every call is logged as one JSON line ("ai-standin call": model, options, the input's shape and
// size, the outcome), which tests and `scripts/dev --ai standin` users read.

import { WorkerEntrypoint } from "cloudflare:workers";

const CHAT = "chat";
const RESPONSE = "response";

// name: [context window, answer shape, reasoning ("switch" | "effort" | "always" | "none"), paid]
const MODELS = {
  "@cf/zai-org/glm-4.7-flash": [131072, CHAT, "switch", false],
  "@cf/google/gemma-4-26b-a4b-it": [256000, CHAT, "switch", false],
  "@cf/nvidia/nemotron-3-120b-a12b": [256000, CHAT, "switch", false],
  "@cf/qwen/qwen3.8-27b": [262144, CHAT, "switch", false],
  "@cf/moonshotai/kimi-k2.6": [262144, CHAT, "switch", true],
  "@cf/moonshotai/kimi-k2.7-code": [262144, CHAT, "always", true],
  "@cf/zai-org/glm-5.2": [262144, CHAT, "switch", true],
  "@cf/zai-org/glm-5.3": [1310720, CHAT, "switch", true],
  "@cf/zai-org/glm-5.3-flash": [1310720, CHAT, "always", true],
  "@cf/deepseek-ai/deepseek-v4-flash-0731": [1048576, CHAT, "effort", true],
  "@cf/meta/llama-3.3-70b-instruct-fp8-fast": [24000, RESPONSE, "none", false],
  "@cf/meta/llama-4-scout-17b-16e-instruct": [131000, RESPONSE, "none", false],
  "@cf/mistralai/mistral-small-3.1-24b-instruct": [128000, RESPONSE, "none", false],
  "@cf/openai/gpt-oss-120b": [128000, CHAT, "always", false],
  "@cf/openai/gpt-oss-20b": [128000, CHAT, "always", false],
};

// Tokens a reasoning model spends thinking before it answers.
const THINKING_TOKENS = 600;

let calls = 0;
const markerCalls = new Map();

const tokens = (text) => Math.ceil(text.length / 4);

function fail(code, message) {
  return new Error(`${code}: ${message}`);
}

function sentences(text) {
  return text
    .replace(/\[\[ai-standin[^\]]*\]\]/g, " ")
    .split(/(?<=[.!?])\s+/)
    .map((s) => s.trim())
    .filter((s) => /\p{L}/u.test(s));
}

function summarize(text, budgetTokens) {
  const all = sentences(text);
  if (all.length === 0) return "";
  const chosen = [all[0]];
  const wanted = Math.min(5, all.length);
  for (let i = 1; i < wanted; i++) {
    const next = all[Math.floor((i * all.length) / wanted)];
    if (tokens([...chosen, next].join(" ")) > budgetTokens) break;
    chosen.push(next);
  }
  return chosen.join(" ");
}

function markers(text) {
  const found = {};
  for (const match of text.matchAll(/\[\[ai-standin ([^\]]*)\]\]/g)) {
    for (const pair of match[1].trim().split(/\s+/)) {
      const [key, value] = pair.split("=");
      found[key] = value;
    }
  }
  return found;
}

// Fails `percent` of calls, spread evenly: call n fails when floor(n·p/100) moves.
function hit(percent, n) {
  return percent > 0 && Math.floor((n * percent) / 100) !== Math.floor(((n - 1) * percent) / 100);
}

function validate(inputs) {
  if (typeof inputs !== "object" || inputs === null) {
    throw fail(5006, "Input validation failed: inputs must be an object");
  }
  if (Array.isArray(inputs.messages)) {
    for (const [i, message] of inputs.messages.entries()) {
      if (typeof message.role !== "string" || typeof message.content !== "string") {
        throw fail(5006, `Input validation failed: /messages/${i} needs a string role and content`);
      }
    }
    return inputs.messages.map((m) => m.content).join("\n");
  }
  if (typeof inputs.prompt === "string") return inputs.prompt;
  throw fail(5006, "Input validation failed: required properties 'messages' or 'prompt' are missing");
}

function thinks(reasoning, inputs) {
  switch (reasoning) {
    case "switch":
      return inputs.chat_template_kwargs?.enable_thinking !== false;
    case "effort":
      return inputs.reasoning_effort !== "none" && inputs.chat_template_kwargs?.enable_thinking !== false;
    case "always":
      return true;
    default:
      return false;
  }
}

function answer(shape, model, content, reasoning, usage, finishReason) {
  const id = `standin-${calls}`;
  switch (shape) {
    case RESPONSE:
      return { response: content ?? "", tool_calls: [], usage };
    case "responses":
      return {
        id,
        object: "response",
        created_at: Math.floor(Date.now() / 1000),
        model,
        output: [
          ...(reasoning ? [{ type: "reasoning", id: `rs_${id}`, content: [{ type: "reasoning_text", text: reasoning }] }] : []),
          { type: "message", id: `msg_${id}`, role: "assistant", content: [{ type: "output_text", text: content ?? "", annotations: [] }] },
        ],
        usage: { input_tokens: usage.prompt_tokens, output_tokens: usage.completion_tokens, total_tokens: usage.total_tokens },
      };
    case "summary":
      return { summary: content ?? "" };
    default:
      return {
        id,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [
          {
            index: 0,
            message: { role: "assistant", content, refusal: null, ...(reasoning ? { reasoning_content: reasoning } : {}), tool_calls: [] },
            finish_reason: finishReason,
            logprobs: null,
          },
        ],
        usage: {
          ...usage,
          prompt_tokens_details: { cached_tokens: 0 },
          completion_tokens_details: { reasoning_tokens: reasoning ? Math.min(THINKING_TOKENS, usage.completion_tokens) : 0 },
        },
        system_fingerprint: null,
      };
  }
}

export class Ai extends WorkerEntrypoint {
  async toMarkdown(documents) {
    return Array.isArray(documents) ? Promise.all(documents.map(convert)) : convert(documents);
  }

  async run(model, inputs, options = {}) {
    calls += 1;
    const n = calls;
    const record = {
      model,
      options,
      input_keys: Object.keys(inputs ?? {}).sort(),
      roles: Array.isArray(inputs?.messages) ? inputs.messages.map((m) => m.role) : null,
      max_completion_tokens: inputs?.max_completion_tokens ?? null,
      max_tokens: inputs?.max_tokens ?? null,
      chat_template_kwargs: inputs?.chat_template_kwargs ?? null,
      reasoning_effort: inputs?.reasoning_effort ?? null,
    };
    try {
      const result = await this.#run(model, inputs ?? {}, options ?? {}, n, record);
      log({ ...record, outcome: "answered", usage: result.usage ?? null });
      return result;
    } catch (error) {
      log({ ...record, outcome: "error", error: error.message });
      throw error;
    }
  }

  async #run(model, inputs, options, n, record) {
    const spec = MODELS[model];
    if (!spec) throw fail(5007, `No such model ${model} or task`);
    const [context, naturalShape, reasoning, paid] = spec;
    if (paid && this.env.AI_STANDIN_PLAN === "free") {
      throw fail(5035, `${model} requires the Workers Paid plan; upgrade to use it`);
    }
    if (options.gateway !== undefined && typeof options.gateway?.id !== "string") {
      throw fail(5006, "Input validation failed: gateway.id must be a string");
    }
    const text = validate(inputs);
    const user = Array.isArray(inputs.messages)
      ? inputs.messages.filter((m) => m.role === "user").map((m) => m.content).join("\n")
      : text;
    record.input_chars = text.length;

    const found = markers(user);
    if (found.fail) {
      const key = `${found.fail}:${user.length}:${user.slice(0, 200)}`;
      const seen = (markerCalls.get(key) ?? 0) + 1;
      markerCalls.set(key, seen);
      if (found.times === undefined || seen <= Number(found.times)) {
        throw fail(Number(found.fail), `injected by the stand-in (call ${seen})`);
      }
    }
    if (hit(Number(this.env.AI_STANDIN_FAIL_PERCENT ?? 0), n)) {
      const code = Number(this.env.AI_STANDIN_FAIL_CODE ?? 3040);
      throw fail(code, "injected by the stand-in (AI_STANDIN_FAIL_PERCENT)");
    }
    if (hit(Number(this.env.AI_STANDIN_BUSY_PERCENT ?? 0), n)) {
      if (options.rejectIfBusy === true) {
        throw fail(3040, "Capacity temporarily exceeded, please try again.");
      }
      // Without rejectIfBusy the request waits in the capacity queue.
      await new Promise((resolve) => setTimeout(resolve, Number(this.env.AI_STANDIN_QUEUE_MS ?? 3000)));
    }

    const budget = inputs.max_completion_tokens ?? inputs.max_tokens ?? 256;
    const promptTokens = tokens(text);
    if (promptTokens + budget > context) {
      throw fail(3006, `Request is too large: ${promptTokens} input tokens and ${budget} to answer exceed ${context}`);
    }
    const thinking = thinks(reasoning, inputs);
    const thought = thinking ? "The user wants a short summary of the text. ".repeat(THINKING_TOKENS / 11) : null;
    let content = null;
    let completionTokens = budget;
    let finishReason = "length";
    if (!thinking || THINKING_TOKENS < budget) {
      content = summarize(user, budget - (thinking ? THINKING_TOKENS : 0));
      completionTokens = tokens(content) + (thinking ? THINKING_TOKENS : 0);
      finishReason = "stop";
    }
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    };
    const shape = found.shape ?? this.env.AI_STANDIN_SHAPE ?? naturalShape;
    return answer(shape, model, content, thought, usage, finishReason);
  }
}

// toMarkdown's stand-in "reads" an image the way a vision model would see text in it: from
// the text a PNG carries (tEXt chunks), a JPEG's comment, or a PDF's /Subject; otherwise it
// describes the file. It answers in the binding's shape: {name, mimeType, format, tokens,
// data}, or format "error" for bytes it cannot read; `[[ai-standin fail=CODE]]` in the
// bytes throws like run's markers do.
const MIME = { png: "image/png", jpeg: "image/jpeg", jpg: "image/jpeg", webp: "image/webp", pdf: "application/pdf" };

function latin1(bytes) {
  return Array.from(bytes, (b) => String.fromCharCode(b)).join("");
}

function pngText(bytes) {
  const texts = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 8; at + 12 <= bytes.length; ) {
    const length = view.getUint32(at);
    const type = latin1(bytes.subarray(at + 4, at + 8));
    if (type === "tEXt") {
      const chunk = latin1(bytes.subarray(at + 8, at + 8 + length));
      texts.push(chunk.slice(chunk.indexOf("\0") + 1));
    }
    at += 12 + length;
  }
  return texts.join("\n\n");
}

function seenText(bytes, kind) {
  const raw = latin1(bytes);
  if (kind === "png") return pngText(bytes);
  if (kind === "pdf") return /\/Subject\s*\(([^)]*)\)/.exec(raw)?.[1] ?? "";
  if (kind === "jpeg" || kind === "jpg") {
    const at = raw.indexOf("\xFF\xFE");
    return at < 0 ? "" : raw.slice(at + 4, at + 2 + ((bytes[at + 2] << 8) | bytes[at + 3]));
  }
  return "";
}

async function convert(document) {
  const bytes = new Uint8Array(await document.blob.arrayBuffer());
  const kind = document.name.split(".").pop().toLowerCase();
  const mimeType = MIME[kind] ?? "application/octet-stream";
  const marker = /\[\[ai-standin fail=(\d+)\]\]/.exec(latin1(bytes));
  log({ method: "toMarkdown", name: document.name, bytes: bytes.length, outcome: marker ? `fail ${marker[1]}` : "ok" });
  if (marker) throw fail(Number(marker[1]), "the stand-in was told to fail");
  if (!MIME[kind]) {
    return { name: document.name, mimeType, format: "error", error: `Unsupported file type: ${kind}` };
  }
  const seen = seenText(bytes, kind).trim();
  const data = `# ${document.name}\n\n${seen || `A ${kind} file of ${bytes.length} bytes with no legible text.`}\n`;
  return { name: document.name, mimeType, format: "markdown", tokens: tokens(data), data };
}

function log(fields) {
  console.log(JSON.stringify({ timestamp: new Date().toISOString(), level: "INFO", fields: { message: "ai-standin call", ...fields } }));
}

export default {
  async fetch() {
    return new Response("docpipe's Workers AI stand-in: bind it as a service with entrypoint Ai\n", {
      headers: { "content-type": "text/plain" },
    });
  },
};
