#!/usr/bin/env bash
# The one test command:  bash tests/run.sh [pytest args]
#
# On a fresh Debian/Ubuntu machine with Python 3.11 and pip it
#   1. installs redis-server and PostgreSQL via apt-get if they are missing
#      (as root, or through passwordless sudo); the system services are not
#      used -- the tests start their own private servers on loopback;
#   2. installs this project with its test extras (pip install -e '.[test]')
#      into the active virtualenv, or the current python;
#   3. runs pytest with the given arguments (config in pyproject.toml).
# Exit status is pytest's, except "no tests collected" (5), which is a failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO_ROOT="$(pwd -P)"
START_S=$SECONDS

say() { printf '[tests/run.sh] %s\n' "$*" >&2; }

report_elapsed() {
    local rc=$?
    say "elapsed: $((SECONDS - START_S))s (exit code $rc)"
}
trap report_elapsed EXIT

# ----------------------------------------------------------------- system packages

have_postgres() {
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1
}

have_redis() {
    command -v redis-server >/dev/null 2>&1
}

missing_packages() {
    local pkgs=()
    have_redis || pkgs+=(redis-server)
    have_postgres || pkgs+=(postgresql)
    echo "${pkgs[*]:-}"
}

# apt_install PKG...: as root, or via passwordless sudo; quiet unless it fails.
apt_install() {
    local sudo=()
    if [[ "$(id -u)" -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
            sudo=(sudo -n)
        else
            say "missing system packages: $*; not root and no passwordless sudo."
            return 1
        fi
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        say "missing system packages: $*; apt-get is not available to install them."
        return 1
    fi

    say "installing missing system packages: $*"
    local log
    log="$(mktemp)"
    if ! { "${sudo[@]}" apt-get update -qq &&
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "$@"; } >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        say "apt-get failed to install: $*"
        exit 1
    fi
    rm -f "$log"
}

install_system_packages() {
    local pkgs
    pkgs="$(missing_packages)"
    [[ -z "$pkgs" ]] && return 0

    # shellcheck disable=SC2086  # $pkgs is a space-separated list of package names
    apt_install $pkgs || {
        say "install them (e.g. 'sudo apt-get install -y redis-server postgresql'), or run"
        say "this script as root / with passwordless sudo so it can install them itself."
        exit 1
    }

    pkgs="$(missing_packages)"
    if [[ -n "$pkgs" ]]; then
        say "still missing after apt-get install: $pkgs"
        exit 1
    fi
}

install_system_packages

# -------------------------------------------------------------------------- python

if [[ -n "${VIRTUAL_ENV:-}" && -x "${VIRTUAL_ENV}/bin/python" ]]; then
    PY="${VIRTUAL_ENV}/bin/python"
elif command -v python >/dev/null 2>&1; then
    PY="$(command -v python)"
elif command -v python3 >/dev/null 2>&1; then
    PY="$(command -v python3)"
else
    say "no python or python3 found; install Python 3.11+."
    exit 1
fi

# A distribution python (Debian 12, Ubuntu 23.04+) refuses "pip install" outside a
# virtualenv (PEP 668).  Then use ./.venv, creating it on first run.
externally_managed() {
    "$1" - <<'PYEOF' >/dev/null 2>&1
import os, sys, sysconfig
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
sys.exit(0 if sys.prefix == sys.base_prefix and os.path.exists(marker) else 1)
PYEOF
}

if [[ -z "${VIRTUAL_ENV:-}" ]] && externally_managed "$PY"; then
    if [[ ! -x .venv/bin/python ]]; then
        say "$PY is externally managed (PEP 668): creating a virtualenv in .venv"
        if ! "$PY" -m venv .venv >/dev/null 2>&1; then
            rm -rf .venv
            venv_pkg="python3-venv"
            ver="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
            apt-cache show "python${ver}-venv" >/dev/null 2>&1 && venv_pkg="python${ver}-venv"
            apt_install "$venv_pkg" || {
                say "could not create a virtualenv; install $venv_pkg or activate a virtualenv."
                exit 1
            }
            "$PY" -m venv .venv
        fi
    fi
    PY="$REPO_ROOT/.venv/bin/python"
fi

if ! "$PY" -m pip --version >/dev/null 2>&1; then
    say "$PY has no pip; install it (e.g. 'apt-get install python3-pip') or activate a virtualenv."
    exit 1
fi

say "installing the project with test extras using $PY"
PIP_ROOT_USER_ACTION=ignore "$PY" -m pip install -q -e '.[test]'

# --------------------------------------------------------------------------- tests

say "running: $PY -m pytest $*"
rc=0
"$PY" -m pytest "$@" || rc=$?

if [[ "$rc" -eq 5 ]]; then
    say "pytest collected no tests (exit code 5): treating this as a failure."
    rc=1
fi
exit "$rc"
