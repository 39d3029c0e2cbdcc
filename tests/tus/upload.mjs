// Uploads a file to docpipe with tus-js-client (the tus reference client), in fixed chunks,
// dropping the connection once in the middle of a chunk and resuming from the offset the
// server reports. Prints one JSON line: the document and job ids, where it resumed, and the
// PATCH requests sent.
//
//   node tests/tus/upload.mjs <endpoint> <file> <chunk bytes> <interrupt after bytes>
// The API key is read from DOCPIPE_KEY.
import fs from "node:fs";
import path from "node:path";
import * as tus from "tus-js-client";

const [endpoint, file, chunkArg, interruptArg] = process.argv.slice(2);
const chunkSize = Number(chunkArg);
const interruptAt = Number(interruptArg);
const size = fs.statSync(file).size;
const seen = { patches: 0, resumedAt: null, documentId: null, jobId: null };

function upload(uploadUrl) {
  return new Promise((resolve, reject) => {
    let interrupted = false;
    const options = {
      endpoint,
      uploadUrl,
      chunkSize,
      uploadSize: size,
      retryDelays: [],
      metadata: { filename: path.basename(file), filetype: "text/plain" },
      headers: { Authorization: `Bearer ${process.env.DOCPIPE_KEY}` },
      onAfterResponse(req, res) {
        const method = req.getMethod();
        if (method === "PATCH") seen.patches += 1;
        if (method === "HEAD") seen.resumedAt = Number(res.getHeader("Upload-Offset"));
        seen.documentId = res.getHeader("Docpipe-Document-Id") || seen.documentId;
        seen.jobId = res.getHeader("Docpipe-Job-Id") || seen.jobId;
      },
      onProgress(sent) {
        if (!uploadUrl && !interrupted && sent >= interruptAt) {
          interrupted = true;
          // The connection drops in the middle of a PATCH body.
          current.abort(false).then(() => resolve({ interrupted: current.url }));
        }
      },
      onError: reject,
      onSuccess: () => resolve({ done: true }),
    };
    const current = new tus.Upload(fs.createReadStream(file), options);
    current.start();
  });
}

const first = await upload(null);
if (!first.interrupted) throw new Error("the upload finished before it could be interrupted");
const second = await upload(first.interrupted);
if (!second.done) throw new Error("the resumed upload did not finish");
console.log(JSON.stringify({
  document_id: seen.documentId,
  job_id: seen.jobId,
  resumed_at: seen.resumedAt,
  patches: seen.patches,
  upload_url: first.interrupted,
}));
