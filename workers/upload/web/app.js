// docpipe's page: sign in with an API key (kept in sessionStorage, for this tab only), upload
// files with progress (resumable tus uploads for large ones), watch their status, read
// summaries and text, search, reprocess and delete. Everything shown that comes from a
// document (names, text, summaries, errors) is put on the page as text, never as HTML.

const KEY_ITEM = "docpipe.key";
const PAGE_SIZE = 20;
// Files up to this size go in one request; larger ones as tus uploads of CHUNK-byte parts
// (the API wants equal parts of at least 5 MiB but the last).
const SINGLE_REQUEST_MAX = 8 * 1024 * 1024;
const CHUNK = 8 * 1024 * 1024;
const POLL_MIN_MS = 1000;
const POLL_MAX_MS = 15000;
const TEXT_SHOWN_MAX = 200 * 1024;

const $ = (id) => document.getElementById(id);

/** An element with attributes and children; strings become text nodes. */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- the API -----------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function key() {
  return sessionStorage.getItem(KEY_ITEM) ?? "";
}

/** A request to the API; JSON in and out. Throws ApiError with the API's own message. */
async function api(method, path, { body, headers = {} } = {}) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: { Authorization: `Bearer ${key()}`, ...headers },
      body,
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "network", "The API could not be reached. Check the connection.");
  }
  if (response.status === 401) {
    signOut("The key was refused: sign in again.");
  }
  if (!response.ok) {
    let code = "error";
    let message = `The API answered ${response.status}.`;
    try {
      const answer = await response.json();
      code = answer.error?.code ?? code;
      message = answer.error?.message ?? message;
    } catch {
      // Not JSON: keep the status.
    }
    throw new ApiError(response.status, code, message);
  }
  return response;
}

const getJson = async (path) => (await api("GET", path)).json();

/** An XMLHttpRequest with upload progress (fetch has none). */
function send(method, url, headers, body, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open(method, url);
    request.setRequestHeader("Authorization", `Bearer ${key()}`);
    for (const [name, value] of Object.entries(headers)) request.setRequestHeader(name, value);
    request.upload.onprogress = (event) => onProgress?.(event.loaded);
    request.onload = () => resolve(request);
    request.onerror = () => reject(new ApiError(0, "network", "The connection dropped."));
    request.send(body);
  });
}

function failure(request) {
  try {
    const answer = JSON.parse(request.responseText);
    return new ApiError(request.status, answer.error?.code ?? "error", answer.error?.message ?? "");
  } catch {
    return new ApiError(request.status, "error", `The API answered ${request.status}.`);
  }
}

// ---- uploads -----------------------------------------------------------------------------

function base64(text) {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

async function uploadWhole(file, progress) {
  const query = new URLSearchParams({ filename: file.name });
  const request = await send(
    "POST",
    `/v1/documents?${query}`,
    { "Content-Type": file.type || "application/octet-stream" },
    file,
    progress,
  );
  if (request.status !== 202) throw failure(request);
  return JSON.parse(request.responseText);
}

/** tus 1.0.0: create, then PATCH parts; a dropped part resumes from the offset HEAD gives. */
async function uploadResumable(file, progress) {
  const tus = { "Tus-Resumable": "1.0.0" };
  const created = await api("POST", "/v1/uploads", {
    headers: {
      ...tus,
      "Upload-Length": String(file.size),
      "Upload-Metadata": `filename ${base64(file.name)},filetype ${base64(file.type || "application/octet-stream")}`,
    },
  });
  const location = created.headers.get("Location");
  const ids = {
    document_id: created.headers.get("Docpipe-Document-Id"),
    job_id: created.headers.get("Docpipe-Job-Id"),
  };
  let offset = 0;
  let failures = 0;
  while (offset < file.size) {
    try {
      const part = file.slice(offset, offset + CHUNK);
      const headers = { ...tus, "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" };
      const start = offset;
      const request = await send("PATCH", location, headers, part, (sent) => progress(start + sent));
      if (request.status !== 204) throw failure(request);
      offset = Number(request.getResponseHeader("Upload-Offset"));
      failures = 0;
    } catch (error) {
      // Refusals are final; a dropped connection or a server hiccup is tried again.
      if (error.status >= 400 && error.status < 500 && error.status !== 409 && error.status !== 429) throw error;
      failures += 1;
      if (failures > 8) throw error;
      await sleep(Math.min(500 * 2 ** failures, 15000));
      const head = await api("HEAD", location, { headers: tus }).catch(() => null);
      if (head) offset = Number(head.headers.get("Upload-Offset"));
    }
    progress(offset);
  }
  return ids;
}

function startUpload(file) {
  const bar = el("progress", { max: String(file.size || 1), value: "0", "aria-label": `Upload of ${file.name}` });
  const state = el("span", { class: "state" }, "starting");
  const item = el("li", {}, el("span", { class: "name" }, file.name), state, bar);
  $("uploads").prepend(item);
  const progress = (bytes) => {
    bar.value = Math.min(bytes, file.size);
    state.textContent = `${percent(bytes, file.size)} of ${size(file.size)}`;
  };
  const upload = file.size > SINGLE_REQUEST_MAX ? uploadResumable : uploadWhole;
  upload(file, progress)
    .then(() => {
      bar.value = bar.max;
      state.textContent = "uploaded";
      item.dataset.state = "uploaded";
      pollSoon();
    })
    .catch((error) => {
      state.textContent = `failed: ${error.message}`;
      state.classList.add("error");
      item.dataset.state = "failed";
    });
}

function percent(part, whole) {
  return `${whole ? Math.floor((100 * Math.min(part, whole)) / whole) : 100}%`;
}

function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

// ---- the list ----------------------------------------------------------------------------

const list = { documents: new Map(), cursor: null, errors: new Map() };
let pollDelay = POLL_MIN_MS;
let pollTimer = null;

function unfinished(status) {
  return status === "queued" || status === "processing";
}

function row(doc) {
  const open = el("button", { type: "button", class: "link" }, doc.filename ?? "(no name)");
  open.addEventListener("click", () => openDocument(doc.document_id));
  const status = el("span", { class: `badge ${doc.status ?? ""}` }, doc.status ?? "unknown");
  const statusCell = el("td", {}, status);
  if (doc.status === "failed") {
    const reason = el("span", { class: "failure" }, list.errors.get(doc.job_id) ?? "");
    statusCell.append(reason);
    if (!list.errors.has(doc.job_id) && doc.job_id) {
      list.errors.set(doc.job_id, "");
      getJson(`/v1/jobs/${doc.job_id}`)
        .then((job) => {
          list.errors.set(doc.job_id, job.error ?? "");
          reason.textContent = job.error ?? "";
        })
        .catch(() => list.errors.delete(doc.job_id));
    }
  }
  const tr = el(
    "tr",
    { "data-document": doc.document_id },
    el("td", {}, open),
    statusCell,
    el("td", { class: "size" }, size(doc.size_bytes)),
    el("td", { class: "added" }, new Date(doc.created_at).toLocaleString()),
    el("td", { class: "summary" }, doc.summary_start ?? ""),
  );
  return tr;
}

function render() {
  const body = $("documents").tBodies[0];
  const docs = [...list.documents.values()].sort((a, b) => (a.document_id < b.document_id ? 1 : -1));
  body.replaceChildren(...docs.map(row));
  $("empty").hidden = docs.length > 0;
  $("more").hidden = !list.cursor;
}

async function refresh() {
  try {
    const page = await getJson(`/v1/documents?limit=${PAGE_SIZE}`);
    // The first page replaces what it covers; older pages already loaded stay.
    const oldest = page.documents.at(-1)?.document_id;
    for (const id of list.documents.keys()) {
      if (!oldest || id >= oldest) list.documents.delete(id);
    }
    for (const doc of page.documents) list.documents.set(doc.document_id, doc);
    if (list.documents.size <= page.documents.length) list.cursor = page.next_cursor;
    $("list-error").hidden = true;
    render();
  } catch (error) {
    $("list-error").textContent = error.message;
    $("list-error").hidden = false;
  }
}

async function more() {
  if (!list.cursor) return;
  $("more").disabled = true;
  try {
    const page = await getJson(`/v1/documents?limit=${PAGE_SIZE}&cursor=${encodeURIComponent(list.cursor)}`);
    for (const doc of page.documents) list.documents.set(doc.document_id, doc);
    list.cursor = page.next_cursor;
    render();
  } catch (error) {
    $("list-error").textContent = error.message;
    $("list-error").hidden = false;
  } finally {
    $("more").disabled = false;
  }
}

/** Polls while anything is unfinished, backing off from 1 s to 15 s; then stops. */
async function poll() {
  pollTimer = null;
  if (!key()) return;
  await refresh();
  const busy =
    [...list.documents.values()].some((doc) => unfinished(doc.status)) ||
    document.querySelector(".uploads li:not([data-state])") !== null;
  if (busy) {
    pollTimer = setTimeout(poll, pollDelay);
    pollDelay = Math.min(pollDelay * 2, POLL_MAX_MS);
  }
}

function pollSoon() {
  pollDelay = POLL_MIN_MS;
  if (pollTimer) clearTimeout(pollTimer);
  pollTimer = setTimeout(poll, 300);
}

// ---- one document ------------------------------------------------------------------------

let current = null;

async function openDocument(id) {
  current = id;
  const dialog = $("document");
  $("document-title").textContent = "Loading…";
  $("document-meta").replaceChildren();
  $("document-summary").replaceChildren();
  $("document-notes").replaceChildren();
  $("document-text").replaceChildren();
  $("document-message").textContent = "";
  $("delete").textContent = "Delete";
  delete $("delete").dataset.armed;
  if (!dialog.open) dialog.showModal();
  try {
    const doc = await getJson(`/v1/documents/${id}`);
    if (current !== id) return;
    $("document-title").textContent = doc.filename ?? "(no name)";
    const meta = [
      ["Type", doc.content_type],
      ["Size", size(doc.size_bytes)],
      ["Added", new Date(doc.created_at).toLocaleString()],
      ["Id", doc.document_id],
    ];
    await loadSummary(id, meta);
    if (current !== id) return;
    $("document-meta").replaceChildren(...meta.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value ?? "")]));
    await loadText(id);
  } catch (error) {
    $("document-message").textContent = error.message;
  }
}

async function loadSummary(id, meta) {
  try {
    const summary = await getJson(`/v1/documents/${id}/summary`);
    meta.push(["Summarized by", summary.model ? `${summary.backend} (${summary.model})` : summary.backend]);
    if (summary.fallback_from) meta.push(["Fallback from", `${summary.fallback_from}: ${summary.fallback_reason ?? ""}`]);
    if (summary.truncated) meta.push(["Truncated", "the summary covers the start of the document"]);
    $("document-summary").replaceChildren(...markdown(summary.summary));
    $("document-notes").replaceChildren(...(summary.notes ?? []).map((note) => el("li", {}, note)));
  } catch (error) {
    $("document-summary").replaceChildren(el("p", { class: error.code === "summary_failed" ? "error" : "" }, error.message));
  }
}

async function loadText(id) {
  try {
    const response = await api("GET", `/v1/documents/${id}/text?format=markdown`);
    let text = await response.text();
    if (current !== id) return;
    const cut = text.length > TEXT_SHOWN_MAX;
    if (cut) text = text.slice(0, TEXT_SHOWN_MAX);
    const nodes = markdown(text);
    if (cut) nodes.push(el("p", { class: "hint" }, `Only the first ${size(TEXT_SHOWN_MAX)} are shown.`));
    $("document-text").replaceChildren(...nodes);
  } catch (error) {
    $("document-text").replaceChildren(el("p", {}, error.message));
  }
}

async function reprocess() {
  if (!current) return;
  try {
    await api("POST", `/v1/documents/${current}/reprocess`);
    $("document-message").textContent = "Reprocessing: the list shows its progress.";
    pollSoon();
  } catch (error) {
    $("document-message").textContent = error.message;
  }
}

async function remove() {
  if (!current) return;
  const button = $("delete");
  if (!button.dataset.armed) {
    button.dataset.armed = "yes";
    button.textContent = "Delete for good?";
    return;
  }
  try {
    await api("DELETE", `/v1/documents/${current}`);
    list.documents.delete(current);
    render();
    $("document").close();
  } catch (error) {
    $("document-message").textContent = error.message;
  }
}

// ---- Markdown, as DOM nodes --------------------------------------------------------------

/** Renders a subset of Markdown (headings, lists, code blocks, quotes, paragraphs, `code`,
 * **strong**, *emphasis*) to nodes. Links and HTML stay text. */
function markdown(source) {
  const nodes = [];
  const lines = source.replace(/\r\n?/g, "\n").split("\n");
  let paragraph = [];
  let listNode = null;
  const flush = () => {
    if (paragraph.length) nodes.push(el("p", {}, ...inline(paragraph.join(" "))));
    paragraph = [];
    listNode = null;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === "\f") {
      // A page break.
      flush();
      nodes.push(el("hr", { class: "page-break" }));
      continue;
    }
    if (line.startsWith("|")) {
      flush();
      const rows = [];
      for (; i < lines.length && lines[i].startsWith("|"); i++) {
        if (!/^\|(\s*:?-+:?\s*\|)+\s*$/.test(lines[i])) rows.push(cells(lines[i]));
      }
      i--;
      const [head, ...body] = rows;
      nodes.push(el("div", { class: "table" }, el("table", {},
        el("thead", {}, el("tr", {}, ...head.map((cell) => el("th", {}, ...inline(cell))))),
        el("tbody", {}, ...body.map((row) => el("tr", {}, ...row.map((cell) => el("td", {}, ...inline(cell)))))))));
      continue;
    }
    if (line.startsWith("```")) {
      flush();
      const code = [];
      for (i++; i < lines.length && !lines[i].startsWith("```"); i++) code.push(lines[i]);
      nodes.push(el("pre", {}, el("code", {}, code.join("\n"))));
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    const item = /^\s*(?:[-*+]|\d+[.)])\s+(.*)$/.exec(line);
    if (heading) {
      flush();
      nodes.push(el(`h${Math.min(heading[1].length + 3, 6)}`, {}, ...inline(heading[2])));
    } else if (item) {
      if (paragraph.length) flush();
      if (!listNode) {
        listNode = el(/^\s*\d/.test(line) ? "ol" : "ul");
        nodes.push(listNode);
      }
      listNode.append(el("li", {}, ...inline(item[1])));
    } else if (line.startsWith(">")) {
      flush();
      nodes.push(el("blockquote", {}, ...inline(line.replace(/^>\s?/, ""))));
    } else if (line.trim() === "") {
      flush();
    } else {
      listNode = null;
      paragraph.push(line.trim());
    }
  }
  flush();
  return nodes;
}

// The cells of a table row: split at pipes that are not escaped.
function cells(row) {
  return row.trim().replace(/^\|/, "").replace(/(?<!\\)\|$/, "").split(/(?<!\\)\|/).map((cell) => cell.trim());
}

function inline(text) {
  const parts = [];
  // A backslash escape is the character itself; then code, strong and emphasis.
  const pattern = /(\\[!-\/:-@[-`{-~]|`[^`]+`|\*\*[^*]+\*\*|\*[^*\s][^*]*\*)/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) parts.push(text.slice(last, match.index));
    const token = match[0];
    if (token.startsWith("\\")) parts.push(token.slice(1));
    else if (token.startsWith("`")) parts.push(el("code", {}, token.slice(1, -1)));
    else if (token.startsWith("**")) parts.push(el("strong", {}, token.slice(2, -2)));
    else parts.push(el("em", {}, token.slice(1, -1)));
    last = match.index + token.length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

/** A search snippet: the matches come between literal `<mark>` and `</mark>`. */
function highlighted(snippet) {
  const parts = [];
  const pieces = snippet.split(/(<mark>|<\/mark>)/);
  let marked = false;
  for (const piece of pieces) {
    if (piece === "<mark>") marked = true;
    else if (piece === "</mark>") marked = false;
    else if (piece) parts.push(marked ? el("mark", {}, piece) : piece);
  }
  return parts;
}

// ---- search ------------------------------------------------------------------------------

async function search(event) {
  event.preventDefault();
  const q = $("q").value.trim();
  if (!q) return;
  $("search-error").hidden = true;
  try {
    const answer = await getJson(`/v1/search?${new URLSearchParams({ q, limit: "20" })}`);
    const hits = answer.results.map((hit) => {
      const open = el("button", { type: "button", class: "link" }, hit.filename || "(no name)");
      open.addEventListener("click", () => openDocument(hit.document_id));
      const snippet = hit.text_snippet || hit.summary_snippet || "";
      return el("li", {}, open, el("p", { class: "snippet" }, ...highlighted(snippet)));
    });
    if (!hits.length) hits.push(el("li", { class: "hint" }, "Nothing matches."));
    $("hits").replaceChildren(...hits);
  } catch (error) {
    $("search-error").textContent = error.message;
    $("search-error").hidden = false;
    $("hits").replaceChildren();
  }
}

// ---- signing in --------------------------------------------------------------------------

function show(signedIn) {
  $("sign-in").hidden = signedIn;
  $("app").hidden = !signedIn;
  $("sign-out").hidden = !signedIn;
}

function signOut(message) {
  sessionStorage.removeItem(KEY_ITEM);
  list.documents.clear();
  list.cursor = null;
  if ($("document").open) $("document").close();
  show(false);
  $("sign-in-error").textContent = message ?? "";
  $("sign-in-error").hidden = !message;
}

async function signIn(event) {
  event.preventDefault();
  const candidate = $("api-key").value.trim();
  sessionStorage.setItem(KEY_ITEM, candidate);
  try {
    await api("GET", `/v1/documents?limit=1`);
  } catch (error) {
    if (error.status !== 401) signOut(error.message);
    return;
  }
  $("api-key").value = "";
  $("sign-in-error").hidden = true;
  show(true);
  pollSoon();
}

// ---- wiring ------------------------------------------------------------------------------

function upload(files) {
  for (const file of files) startUpload(file);
}

$("sign-in-form").addEventListener("submit", signIn);
$("sign-out").addEventListener("click", () => signOut());
$("files").addEventListener("change", (event) => {
  upload(event.target.files);
  event.target.value = "";
});
const drop = $("drop");
drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  upload(event.dataTransfer.files);
});
$("more").addEventListener("click", more);
$("search-form").addEventListener("submit", search);
$("close").addEventListener("click", () => $("document").close());
$("document").addEventListener("close", () => {
  current = null;
});
$("reprocess").addEventListener("click", reprocess);
$("delete").addEventListener("click", remove);

if (key()) {
  show(true);
  pollSoon();
} else {
  show(false);
}
