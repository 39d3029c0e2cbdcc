// Lists a wasm module's imports and runs extract_len on a PDF with stub imports (if any).
import fs from 'node:fs';
const [,, wasmPath, ...pdfs] = process.argv;
const mod = new WebAssembly.Module(fs.readFileSync(wasmPath));
const imps = WebAssembly.Module.imports(mod);
console.log('imports:', imps.length ? imps.map(i => `${i.module}.${i.name}`).join(', ') : 'none');
// Stub every import (wasm-bindgen glue is not generated here); fine as long as extraction
// does not actually call into JS (e.g. for randomness).
const env = {};
for (const i of imps) { env[i.module] ??= {}; if (i.kind === 'function') env[i.module][i.name] = () => 0;
  else if (i.kind === 'table') env[i.module][i.name] = new WebAssembly.Table({initial: 128, element: 'externref'}); }
const inst = new WebAssembly.Instance(mod, env);
for (const p of pdfs) {
  const bytes = fs.readFileSync(p);
  const ptr = inst.exports.alloc(bytes.length);
  new Uint8Array(inst.exports.memory.buffer, ptr, bytes.length).set(bytes);
  let r; try { r = inst.exports.extract_len(ptr, bytes.length); } catch (e) { r = 'trap: ' + e.message; }
  console.log(p.split('/').pop(), '->', r);
}
