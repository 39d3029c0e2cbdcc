// The reference pipeline docpipe grew from, Cloudflare's "Async Data Pipeline" pattern, as
// scripts/bench runs it beside docpipe: the upload stores the body in R2 and enqueues its key;
// the consumer reads the object back, takes its first three sentences as the "summary", writes
// one D1 row and acks. It answers uploads in the shape of docpipe's 202 so one client drives both.
let table;

function ready(env) {
  table ??= env.DB.prepare(
    "CREATE TABLE IF NOT EXISTS summaries (key TEXT PRIMARY KEY, summary TEXT NOT NULL, created_at INTEGER NOT NULL)",
  ).run();
  return table;
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
    const key = crypto.randomUUID();
    await env.BUCKET.put(key, request.body, {
      httpMetadata: { contentType: request.headers.get("Content-Type") ?? "text/plain" },
    });
    await env.QUEUE.send({ key });
    return Response.json(
      { document_id: key, job_id: key, status: "queued", status_url: "", summary_url: "" },
      { status: 202 },
    );
  },

  async queue(batch, env) {
    await ready(env);
    for (const message of batch.messages) {
      const object = await env.BUCKET.get(message.body.key);
      const text = await object.text();
      const summary = text.split(/(?<=[.!?])\s+/).slice(0, 3).join(" ");
      await env.DB.prepare("INSERT OR REPLACE INTO summaries (key, summary, created_at) VALUES (?, ?, ?)")
        .bind(message.body.key, summary, Date.now())
        .run();
      message.ack();
    }
  },
};
