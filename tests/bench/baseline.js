// The baselines docpipe's upload Worker is measured against (scripts/bench): the least a
// Worker can do to store a request body in R2, in JavaScript, streaming and buffered.
export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    if (pathname === "/healthz") {
      return Response.json({ status: "ok" });
    }
    if (request.method !== "POST") {
      return new Response("not found", { status: 404 });
    }
    const key = `baseline/${crypto.randomUUID()}`;
    if (pathname === "/put") {
      await env.BUCKET.put(key, request.body);
    } else if (pathname === "/buffered") {
      await env.BUCKET.put(key, await request.arrayBuffer());
    } else {
      return new Response("not found", { status: 404 });
    }
    return Response.json({ key }, { status: 201 });
  },
};
