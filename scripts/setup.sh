#!/usr/bin/env bash
# Shared set-up for scripts/demo.sh and scripts/test.sh on a Debian machine: system packages
# (installed only when missing, as root) and the project's virtualenv in .venv.
# usage: scripts/setup.sh EXTRA [APT_PACKAGE...]   e.g. scripts/setup.sh test postgresql pgbouncer
set -euo pipefail
cd "$(dirname "$0")/.."
extra="$1"
shift

missing=()
for package in "$@"; do
    case "$package" in
        postgresql) ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql) ;;
        pgbouncer) command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer) ;;
        *) dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package") ;;
    esac
done
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: please install (as root): apt-get install ${missing[*]}" >&2
        exit 1
    fi
    # Debian's postgresql package would create and start a system cluster on 5432: pgtop's lab
    # starts its own throwaway servers, so ask postgresql-common not to.
    mkdir -p /etc/postgresql-common
    conf=/etc/postgresql-common/createcluster.conf
    grep -qs '^create_main_cluster' "$conf" || echo "create_main_cluster = false" >>"$conf"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold \
        "${missing[@]}" >/dev/null
fi

python3 - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"setup: pgtop needs Python >= 3.11, this python3 is {sys.version.split()[0]}")
PY
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$extra]"
