// The reference pipeline docpipe grew from, Cloudflare's "Async Data Pipeline" pattern, as
// scripts/bench runs it beside docpipe: the upload stores the body in R2 and enqueues its key;
// the consumer reads the object back, takes its first three sentences as the "summary", writes
// one D1 row and acks. It answers uploads in the shape of docpipe's 202 so one client drives both.
//
// With MIMIC_DOCPIPE = "true" it also makes the storage calls docpipe makes beyond these, and
// nothing else with them: per upload a D1 read (the key) and a D1 write before the put (the
// upload marker) and one after (the document and its job); per batch one D1 write for the
// leases of the first CONCURRENCY messages and one for the batch's usage, a lease write for
// each message after those, and an R2 put of the text of each Markdown document.
let table;

function ready(env) {
  table ??= env.DB.batch([
    env.DB.prepare(
      "CREATE TABLE IF NOT EXISTS summaries (key TEXT PRIMARY KEY, summary TEXT NOT NULL, created_at INTEGER NOT NULL)",
    ),
    env.DB.prepare("CREATE TABLE IF NOT EXISTS calls (at INTEGER NOT NULL)"),
  ]);
  return table;
}

const CONCURRENCY = 8;

function call(env, write) {
  const sql = write ? "INSERT INTO calls (at) VALUES (?)" : "SELECT COUNT(*) AS n FROM calls WHERE at = ?";
  return env.DB.prepare(sql).bind(Date.now()).run();
}

export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    if (pathname === "/healthz") return Response.json({ status: "ok" });
    if (pathname === "/done") {
      await ready(env);
      const row = await env.DB.prepare("SELECT COUNT(*) AS n, MAX(created_at) AS last FROM summaries").first();
      return Response.json(row);
    }
    if (request.method !== "POST" || pathname !== "/v1/documents") {
      return new Response("not found", { status: 404 });
    }
    const mimic = env.MIMIC_DOCPIPE === "true";
    if (mimic) {
      await ready(env);
      await call(env, false);
      await call(env, true);
    }
    const key = crypto.randomUUID();
    await env.BUCKET.put(key, request.body, {
      httpMetadata: { contentType: request.headers.get("Content-Type") ?? "text/plain" },
    });
    if (mimic) await call(env, true);
    await env.QUEUE.send({ key });
    return Response.json(
      { document_id: key, job_id: key, status: "queued", status_url: "", summary_url: "" },
      { status: 202 },
    );
  },

  async queue(batch, env) {
    await ready(env);
    const mimic = env.MIMIC_DOCPIPE === "true";
    if (mimic && batch.messages.length > 1) await call(env, true);
    for (const [i, message] of batch.messages.entries()) {
      if (mimic && (batch.messages.length === 1 || i >= CONCURRENCY)) await call(env, true);
      const object = await env.BUCKET.get(message.body.key);
      const text = await object.text();
      if (mimic && object.httpMetadata?.contentType === "text/markdown") {
        await env.BUCKET.put(`${message.body.key}.txt`, text);
      }
      const summary = text.split(/(?<=[.!?])\s+/).slice(0, 3).join(" ");
      await env.DB.prepare("INSERT OR REPLACE INTO summaries (key, summary, created_at) VALUES (?, ?, ?)")
        .bind(message.body.key, summary, Date.now())
        .run();
      message.ack();
    }
    if (mimic) await call(env, true);
  },
};
