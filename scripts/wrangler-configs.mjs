// Writes the wrangler configs of one local run of docpipe into a directory, derived from the
// committed ones in wrangler/, and prints their paths (one per line, the upload Worker first:
// wrangler serves the first config's Worker on its port). Used by scripts/dev and by the
// end-to-end tests, so both run the same thing.
//
//   node scripts/wrangler-configs.mjs --out DIR [--ai off|standin|remote]
//        [--var NAME=value]... [--batch-size N] [--max-retries N] [--bench-summarizer]
//
// --ai off       the built-in extractive summarizer (the committed configs as they are)
// --ai standin   Workers AI through the local stand-in (tests/standin/ai.js): the summarizer's
//                AI binding is a service binding to it, SUMMARIZER_BACKEND=workers-ai
// --ai remote    real Workers AI from the local pipeline (`remote = true` on the AI binding;
//                needs `wrangler login`), SUMMARIZER_BACKEND=workers-ai
// --var          sets a var on every Worker (wrangler's own --var reaches only the first)
// --bench-summarizer
//                only the summarizer, from its bench build (scripts/build --bench), which has
//                the timing endpoints scripts/bench uses
// wrangler/.dev.vars, when present, is copied beside the configs, so it still applies.

import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { parse, stringify } from "smol-toml";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const wranglerDir = join(root, "wrangler");

const { values } = parseArgs({
  options: {
    out: { type: "string" },
    ai: { type: "string", default: "off" },
    var: { type: "string", multiple: true, default: [] },
    "batch-size": { type: "string" },
    "max-retries": { type: "string" },
    "bench-summarizer": { type: "boolean", default: false },
  },
});

function die(message) {
  console.error(`wrangler-configs: ${message}`);
  process.exit(2);
}

if (!values.out) die("--out DIR is required");
if (!["off", "standin", "remote"].includes(values.ai)) die(`--ai must be off, standin or remote, not ${values.ai}`);
const vars = values.var.map((pair) => {
  const at = pair.indexOf("=");
  if (at < 1) die(`--var takes NAME=value, not ${pair}`);
  return [pair.slice(0, at), pair.slice(at + 1)];
});
const positive = (name) => {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) die(`--${name} takes a whole number, not ${raw}`);
  return n;
};
const batchSize = positive("batch-size");
const maxRetries = positive("max-retries");

const out = resolve(values.out);
mkdirSync(out, { recursive: true });

function load(name) {
  const config = parse(readFileSync(join(wranglerDir, `${name}.toml`), "utf8"));
  // Paths in a config are relative to it; the copy lives elsewhere.
  if (config.main) config.main = resolve(wranglerDir, config.main);
  if (config.assets?.directory) config.assets.directory = resolve(wranglerDir, config.assets.directory);
  for (const database of config.d1_databases ?? []) {
    if (database.migrations_dir) database.migrations_dir = resolve(wranglerDir, database.migrations_dir);
  }
  config.vars = config.vars ?? {};
  for (const [name, value] of vars) config.vars[name] = value;
  return config;
}

const written = [];
function write(name, config) {
  const path = join(out, `${name}.toml`);
  writeFileSync(path, stringify(config));
  written.push(path);
}

const benchOnly = values["bench-summarizer"];
if (!benchOnly) write("upload", load("upload"));

const summarizer = load("summarizer");
if (benchOnly) summarizer.main = join(root, "workers/summarizer/build-bench/index.js");
for (const consumer of summarizer.queues?.consumers ?? []) {
  if (consumer.queue !== "docpipe-jobs") continue;
  if (batchSize !== undefined) consumer.max_batch_size = batchSize;
  if (maxRetries !== undefined) consumer.max_retries = maxRetries;
}
// An explicit --var SUMMARIZER_BACKEND wins (a test of the fallback path, say).
if (values.ai !== "off" && !vars.some(([name]) => name === "SUMMARIZER_BACKEND")) {
  summarizer.vars.SUMMARIZER_BACKEND = "workers-ai";
}
if (values.ai === "standin") {
  const standin = load("ai-standin");
  summarizer.services = [...(summarizer.services ?? []), { binding: "AI", service: standin.name, entrypoint: "Ai" }];
  write("summarizer", summarizer);
  write("ai-standin", standin);
} else {
  if (values.ai === "remote") summarizer.ai = { binding: "AI", remote: true };
  write("summarizer", summarizer);
}

const devVars = join(wranglerDir, ".dev.vars");
if (existsSync(devVars)) copyFileSync(devVars, join(out, ".dev.vars"));

console.log(written.join("\n"));
