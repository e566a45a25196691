#!/usr/bin/env bash
# The README's test command: start the real services the tests need (PostgreSQL), then run
# every check CI runs — formatting, clippy with warnings as errors, all tests, the shipped rules.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The fidelity tests run the real kubectl against the simulated cluster; without it they fail
# (NIGHTSHIFT_SKIP_KUBECTL=1 skips them on purpose, loudly). Say so before a long build.
if [[ "${NIGHTSHIFT_SKIP_KUBECTL:-}" != 1 ]] && [[ -z "${NIGHTSHIFT_KUBECTL:-}" ]] &&
    ! command -v kubectl >/dev/null && [[ ! -x /usr/bin/kubectl ]]; then
    echo "test.sh: kubectl is not installed; the fidelity tests need it (or NIGHTSHIFT_SKIP_KUBECTL=1)" >&2
    exit 1
fi

services="$(scripts/services.sh)"
eval "$services"
trap 'scripts/services.sh stop >/dev/null 2>&1 || true' EXIT

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test (SQLite and PostgreSQL at …@${NIGHTSHIFT_TEST_POSTGRES_URL##*@})"
cargo test --locked
echo "== nightshift rules check"
cargo run --quiet --locked -- rules check
