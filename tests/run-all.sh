#!/usr/bin/env bash
# Runs every test of the project: unit, crate integration and end-to-end (real
# server processes driven by the real kubectl, real registries on 127.0.0.1).
# Installs what the tests need when it is missing. Run as root (CI is).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -x tests/infra/install-deps.sh ] || [ -f tests/infra/install-deps.sh ]; then
  bash tests/infra/install-deps.sh
fi
command -v kubectl >/dev/null || { echo "kubectl is required (v1.32 is expected at /usr/bin/kubectl)" >&2; exit 1; }

export CARGO_TERM_COLOR=never
cargo build --workspace --all-targets
cargo test --workspace --no-fail-fast "$@"
