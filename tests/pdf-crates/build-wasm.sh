#!/usr/bin/env bash
# Builds each minimal cdylib for wasm32-unknown-unknown (release: opt-level z, lto, cgu 1,
# panic abort), runs wasm-opt -Oz, gzips -9, and prints raw / opt / gzip sizes.
# Usage: ./build-wasm.sh [crate ...]   (default: all)
set -u
cd "$(dirname "$0")/wasm"
WASM_OPT=${WASM_OPT:-$(cd "$(dirname "$0")/../.." && pwd)/node_modules/.bin/wasm-opt}
crates=${*:-lopdf pdf_oxide unpdf pdf-extract hayro}
mkdir -p ../wasm-out
for c in $crates; do
  lib=$(echo "wasm_$c" | tr - _)
  if cargo build --release --target wasm32-unknown-unknown -p "wasm-$c" > "../wasm-out/$c.build.log" 2>&1; then
    raw=target/wasm32-unknown-unknown/release/$lib.wasm
    "$WASM_OPT" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
      "$raw" -o "../wasm-out/$c.opt.wasm" 2> "../wasm-out/$c.wasmopt.log" || echo "wasm-opt failed for $c"
    gzip -9 -c "../wasm-out/$c.opt.wasm" > "../wasm-out/$c.opt.wasm.gz"
    printf '%s\traw=%s\topt=%s\tgzip=%s\n' "$c" "$(stat -c%s "$raw")" "$(stat -c%s "../wasm-out/$c.opt.wasm")" "$(stat -c%s "../wasm-out/$c.opt.wasm.gz")" | tee -a ../wasm-out/sizes.tsv
  else
    printf '%s\tBUILD FAILED (see wasm-out/%s.build.log)\n' "$c" "$c" | tee -a ../wasm-out/sizes.tsv
  fi
done
