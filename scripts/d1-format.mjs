// Reads `wrangler d1 execute --json` output on stdin and prints the rows of the last statement,
// as a JSON array of objects ("json") or an aligned text table ("table").
const format = process.argv[2] ?? "table";
let input = "";
for await (const chunk of process.stdin) input += chunk;

const start = input.indexOf("[");
const results = JSON.parse(input.slice(start));
const rows = results.at(-1)?.results ?? [];

if (format === "json") {
  process.stdout.write(JSON.stringify(rows) + "\n");
} else if (rows.length === 0) {
  process.stdout.write("(no rows)\n");
} else {
  const columns = Object.keys(rows[0]);
  const cell = (v) => (v === null ? "NULL" : String(v).replace(/\s+/g, " "));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values) => values.map((v, i) => v.padEnd(widths[i])).join(" | ").trimEnd();
  const out = [line(columns), widths.map((w) => "-".repeat(w)).join("-+-")];
  for (const row of rows) out.push(line(columns.map((c) => cell(row[c]))));
  out.push(`(${rows.length} row${rows.length === 1 ? "" : "s"})`);
  process.stdout.write(out.join("\n") + "\n");
}
