// The baselines docpipe's upload Worker is measured against (scripts/bench): the least a
// Worker can do to store a request body in R2, in JavaScript: streaming, streaming while
// computing its SHA-256 (what docpipe's upload also does), and buffered.
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
    } else if (pathname === "/hashed") {
      const length = Number(request.headers.get("Content-Length"));
      const [toBucket, toDigest] = request.body.tee();
      const fixed = new FixedLengthStream(length);
      const digest = new crypto.DigestStream("SHA-256");
      await Promise.all([
        env.BUCKET.put(key, fixed.readable),
        toBucket.pipeTo(fixed.writable),
        toDigest.pipeTo(digest),
      ]);
      await digest.digest;
    } else if (pathname === "/buffered") {
      await env.BUCKET.put(key, await request.arrayBuffer());
    } else {
      return new Response("not found", { status: 404 });
    }
    return Response.json({ key }, { status: 201 });
  },
};
