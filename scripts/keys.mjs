// API keys for docpipe, in the D1 database: create (the key is shown once; only its SHA-256
// is stored), list, revoke. Run through scripts/keys.
//
//   scripts/keys create NAME [--tenant T] [--scopes read,write] [--remote]
//   scripts/keys list [--tenant T] [--remote]
//   scripts/keys revoke ID [--remote]
//
// Local by default (the D1 database scripts/dev uses, in $DOCPIPE_STATE); --remote runs
// against the production database of wrangler/summarizer.toml's [env.production] (needs
// `wrangler login`).

import { spawnSync } from "node:child_process";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    tenant: { type: "string", default: "default" },
    scopes: { type: "string", default: "read,write" },
    remote: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});

function die(message) {
  console.error(`error: ${message}`);
  process.exit(2);
}

const TENANT = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const quote = (text) => `'${String(text).replaceAll("'", "''")}'`;
const now = () => new Date().toISOString();

function d1(sql) {
  const target = values.remote
    ? ["--remote", "--env", "production"]
    : ["--local", "--persist-to", process.env.DOCPIPE_STATE ?? ".wrangler/state"];
  const args = ["d1", "execute", "DB", ...target, "-c", "wrangler/summarizer.toml", "--json", "--command", sql];
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false" };
  let run;
  // A running `scripts/dev` shares the local database file: wait out a busy one.
  for (let attempt = 1; attempt <= 10; attempt++) {
    run = spawnSync("wrangler", args, { encoding: "utf8", env });
    if (run.status === 0 || !`${run.stdout}${run.stderr}`.includes("SQLITE_BUSY")) break;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100 * attempt);
  }
  if (run.status !== 0) die(`wrangler d1 execute failed:\n${run.stdout}${run.stderr}`);
  const start = run.stdout.indexOf("[");
  const results = JSON.parse(run.stdout.slice(start));
  return results.at(-1)?.results ?? [];
}

const [command, argument] = positionals;
switch (command) {
  case "create": {
    if (!argument) die("usage: scripts/keys create NAME [--tenant T] [--scopes read,write]");
    if (!TENANT.test(values.tenant)) die(`${values.tenant} is not a tenant id (a-z, 0-9, - and _)`);
    const scopes = [...new Set(values.scopes.split(/[,\s]+/).filter(Boolean))].sort();
    if (scopes.length === 0 || scopes.some((s) => s !== "read" && s !== "write")) {
      die("--scopes takes read, write or read,write");
    }
    // 256 random bits, base64url: the same shape docpipe_pipeline::auth::key_from_bytes makes.
    const key = `dpk_${randomBytes(32).toString("base64url")}`;
    const hash = createHash("sha256").update(key).digest("hex");
    const id = randomUUID();
    d1(
      `INSERT INTO tenants (id, name, created_at) VALUES (${quote(values.tenant)}, ${quote(values.tenant)}, ${quote(now())}) ON CONFLICT DO NOTHING; ` +
        `INSERT INTO api_keys (id, tenant_id, name, key_hash, scopes, created_at) VALUES (${quote(id)}, ${quote(values.tenant)}, ${quote(argument)}, ${quote(hash)}, ${quote(scopes.join(" "))}, ${quote(now())})`,
    );
    if (values.json) {
      console.log(JSON.stringify({ id, tenant: values.tenant, scopes, key }));
    } else {
      console.log(`key ${id} for tenant ${values.tenant} (${scopes.join(", ")}); shown once, keep it:\n${key}`);
    }
    break;
  }
  case "list": {
    const where = process.argv.includes("--tenant") ? `WHERE tenant_id = ${quote(values.tenant)}` : "";
    const rows = d1(
      `SELECT id, tenant_id, name, scopes, created_at, last_used_at, revoked_at FROM api_keys ${where} ORDER BY created_at`,
    );
    if (values.json) {
      console.log(JSON.stringify(rows));
    } else if (rows.length === 0) {
      console.log("(no keys)");
    } else {
      for (const r of rows) {
        const state = r.revoked_at ? `revoked ${r.revoked_at}` : `last used ${r.last_used_at ?? "never"}`;
        console.log(`${r.id}  ${r.tenant_id}  ${r.name}  [${r.scopes}]  created ${r.created_at}  ${state}`);
      }
    }
    break;
  }
  case "revoke": {
    if (!argument) die("usage: scripts/keys revoke ID");
    const rows = d1(
      `UPDATE api_keys SET revoked_at = ${quote(now())} WHERE id = ${quote(argument)} AND revoked_at IS NULL RETURNING id`,
    );
    if (rows.length === 0) die(`no active key ${argument}`);
    console.log(`revoked ${argument}`);
    break;
  }
  default:
    die("usage: scripts/keys create NAME [--tenant T] [--scopes read,write] | list | revoke ID [--remote]");
}
