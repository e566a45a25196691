#!/usr/bin/env bash
# The README's test command: start the real services the tests need (PostgreSQL), then run
# every check CI runs — formatting, clippy with warnings as errors, all tests, the shipped rules.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

services="$(scripts/services.sh)"
eval "$services"
trap 'scripts/services.sh stop >/dev/null 2>&1 || true' EXIT

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test (SQLite and PostgreSQL at ${NIGHTSHIFT_TEST_POSTGRES_URL%%@*}@…)"
cargo test --locked
echo "== nightshift rules check"
cargo run --quiet --locked -- rules check
