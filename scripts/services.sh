#!/usr/bin/env bash
# Starts the throwaway services the integration tests need (PostgreSQL), idempotently, and
# installs the headless browser the page screenshots need (Chromium), Alertmanager for
# tests/alertmanager.rs and Prometheus for tests/prometheus.rs (each test starts its own).
#
#   eval "$(scripts/services.sh)"     # install if absent, start, print `export ...` lines
#   scripts/services.sh stop          # stop the server (its data stays for the next start)
#   scripts/services.sh status        # say whether it runs
#   scripts/services.sh chromium      # only install Chromium if absent; print its export line
#
# PostgreSQL is installed from Debian packages (`postgresql`) only when no server binaries are
# found. The server listens on a free loopback port, keeps its data under target/services/ (or
# a temp directory when the server's user cannot reach target/), trusts loopback connections
# and has fsync off: it is for tests only. Everything but the export lines goes to stderr.
set -euo pipefail

log() { printf 'services: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
database="${NIGHTSHIFT_TEST_DATABASE:-nightshift_test}"

find_bindir() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/postgres" ]]; then
            echo "$dir"
            return 0
        fi
    done
    if command -v pg_ctl >/dev/null && command -v initdb >/dev/null; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return 0
    fi
    return 1
}

# Debian's `chromium`, for tests/pages_chromium.rs.
find_chromium() {
    command -v chromium || command -v chromium-browser
}

ensure_chromium() {
    local path sudo=()
    if ! path="$(find_chromium)"; then
        if [[ $(id -u) -ne 0 ]]; then
            command -v sudo >/dev/null || die "Chromium is not installed and this user is not root (no sudo either)"
            sudo=(sudo)
        fi
        log "Chromium not found: installing it from Debian packages"
        "${sudo[@]}" apt-get update >&2
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-dejavu-core >&2
        path="$(find_chromium)" || die "chromium was installed but is not on PATH"
    fi
    echo "export NIGHTSHIFT_CHROMIUM=$path"
}

install_postgres() {
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || die "PostgreSQL is not installed and this user is not root (no sudo either)"
        sudo=(sudo)
    fi
    log "PostgreSQL not found: installing it from Debian packages"
    "${sudo[@]}" apt-get update >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql >&2
}

# Alertmanager (Debian's `prometheus-alertmanager`) for tests/alertmanager.rs, which starts its
# own process on free loopback ports; installed here only when absent. Its packaged service is
# not started.
install_alertmanager() {
    if command -v prometheus-alertmanager >/dev/null || command -v alertmanager >/dev/null; then
        return 0
    fi
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || die "Alertmanager is not installed and this user is not root (no sudo either)"
        sudo=(sudo)
    fi
    log "Alertmanager not found: installing prometheus-alertmanager from Debian packages"
    "${sudo[@]}" apt-get update >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus-alertmanager >&2
}

# Prometheus (Debian's `prometheus`) for tests/prometheus.rs, which starts its own process on a
# free loopback port scraping a test endpoint; installed here only when absent. Its packaged
# service is not started.
install_prometheus() {
    if command -v prometheus >/dev/null; then
        return 0
    fi
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || die "Prometheus is not installed and this user is not root (no sudo either)"
        sudo=(sudo)
    fi
    log "Prometheus not found: installing prometheus from Debian packages"
    "${sudo[@]}" apt-get update >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >&2
}

# Runs a command as the user that owns the cluster (PostgreSQL refuses to run as root).
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u "$owner" -- "$@"
    else
        "$@"
    fi
}

choose_owner() {
    if [[ $(id -u) -ne 0 ]]; then
        id -un
    elif id postgres >/dev/null 2>&1; then
        echo postgres
    else
        id nightshift-pg >/dev/null 2>&1 ||
            useradd --system --no-create-home --shell /usr/sbin/nologin nightshift-pg
        echo nightshift-pg
    fi
}

# Where the cluster lives: target/services/postgres when its owner can use it, else /tmp.
choose_state_dir() {
    local preferred="$repo/target/services/postgres"
    mkdir -p "$preferred"
    if [[ $(id -u) -eq 0 ]]; then
        chown "$owner" "$preferred"
        if ! runuser -u "$owner" -- test -w "$preferred" 2>/dev/null; then
            local sum
            sum="$(printf '%s' "$repo" | cksum | cut -d' ' -f1)"
            preferred="${TMPDIR:-/tmp}/nightshift-services-$sum/postgres"
            mkdir -p "$preferred"
            chmod 755 "$(dirname "$preferred")"
            chown "$owner" "$preferred"
            log "the $owner user cannot reach target/: using $preferred"
        fi
    fi
    echo "$preferred"
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {
    local port
    for port in $(seq 54320 54420); do
        if ! port_in_use "$port"; then
            echo "$port"
            return 0
        fi
    done
    die "no free port between 54320 and 54420"
}

is_running() {
    [[ -f "$data/postmaster.pid" ]] && as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1
}

start() {
    ensure_chromium
    install_alertmanager
    install_prometheus
    if ! bindir="$(find_bindir)"; then
        install_postgres
        bindir="$(find_bindir)" || die "PostgreSQL was installed but no initdb/pg_ctl was found"
    fi
    owner="$(choose_owner)"
    state="$(choose_state_dir)"
    data="$state/data"
    if [[ ! -f "$data/PG_VERSION" ]]; then
        log "initializing a cluster in $data ($bindir, as $owner)"
        as_owner "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 --no-sync >"$state/initdb.log" 2>&1 ||
            die "initdb failed: see $state/initdb.log"
    fi
    if is_running; then
        port="$(cat "$state/port")"
        log "PostgreSQL already running on 127.0.0.1:$port"
    else
        port="$(cat "$state/port" 2>/dev/null || true)"
        if [[ -z "$port" ]] || port_in_use "$port"; then
            port="$(free_port)"
        fi
        echo "$port" >"$state/port"
        log "starting PostgreSQL on 127.0.0.1:$port (log: $state/server.log)"
        as_owner "$bindir/pg_ctl" -D "$data" -l "$state/server.log" -w -t 60 \
            -o "-p $port -k $state -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
            start >&2 || die "PostgreSQL did not start: see $state/server.log"
    fi
    local psql=("$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA)
    [[ -x "$bindir/psql" ]] || psql=(psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA)
    if [[ "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$database'")" != 1 ]]; then
        log "creating database $database"
        "${psql[@]}" -c "CREATE DATABASE \"$database\"" >&2
    fi
    echo "export NIGHTSHIFT_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$port/$database"
}

stop() {
    bindir="$(find_bindir)" || { log "PostgreSQL is not installed: nothing to stop"; return 0; }
    owner="$(choose_owner)"
    local dir
    for dir in "$repo/target/services/postgres" "${TMPDIR:-/tmp}/nightshift-services-$(printf '%s' "$repo" | cksum | cut -d' ' -f1)/postgres"; do
        data="$dir/data"
        if is_running; then
            log "stopping PostgreSQL in $data"
            as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >&2
        fi
    done
    log "stopped"
}

status() {
    bindir="$(find_bindir)" || { log "PostgreSQL is not installed"; return 1; }
    owner="$(choose_owner)"
    state="$(choose_state_dir)"
    data="$state/data"
    if is_running; then
        log "running on 127.0.0.1:$(cat "$state/port")"
    else
        log "not running"
        return 1
    fi
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    chromium) ensure_chromium ;;
    *) die "usage: $0 [start|stop|status|chromium]" ;;
esac
