// Times compiling and instantiating a Worker's WebAssembly module in V8 (Node's, the engine
// workerd embeds), median of N runs. Imports are stubbed: instantiation links them, it does
// not call them.
//
//   node tests/bench/instantiate.mjs workers/upload/build/index_bg.wasm [runs]
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

const [path, runsArg] = process.argv.slice(2);
const runs = Number(runsArg ?? 20);
const bytes = readFileSync(path);

function stubImports(module) {
  const imports = {};
  for (const { module: name, name: field, kind } of WebAssembly.Module.imports(module)) {
    imports[name] ??= {};
    if (kind === "function") imports[name][field] = () => undefined;
    else if (kind === "table") imports[name][field] = new WebAssembly.Table({ initial: 128, element: "externref" });
    else if (kind === "memory") imports[name][field] = new WebAssembly.Memory({ initial: 17 });
    else if (kind === "global") imports[name][field] = new WebAssembly.Global({ value: "i32", mutable: true }, 0);
    else if (kind === "tag") imports[name][field] = WebAssembly.JSTag ?? new WebAssembly.Tag({ parameters: ["externref"] });
  }
  return imports;
}

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const compile = [];
const instantiate = [];
for (let i = 0; i < runs; i++) {
  let t = performance.now();
  const module = new WebAssembly.Module(bytes);
  compile.push(performance.now() - t);
  t = performance.now();
  new WebAssembly.Instance(module, stubImports(module));
  instantiate.push(performance.now() - t);
}
console.log(JSON.stringify({
  compile_ms: median(compile),
  instantiate_ms: median(instantiate),
  compile_min_ms: Math.min(...compile),
  compile_max_ms: Math.max(...compile),
}));
