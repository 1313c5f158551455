#!/usr/bin/env bash
# Sets up a development checkout of memmond on Debian/Ubuntu: the system packages it builds against,
# a virtualenv in .venv with memmond installed editable. Both README commands start with this script,
# and so does .ci/run, so "works in the README" and "works in CI" are the same statement.
#
#   packaging/dev-setup.sh          runtime only (to run the daemon and the CLI)
#   packaging/dev-setup.sh --test   plus the test extras and the external programs the tests drive
#
# Safe to run again: it installs only what is missing.
set -euo pipefail

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

# systemd-python compiles against libsystemd; promtool (package prometheus) checks our exposition.
apt_packages=(libsystemd-dev pkg-config gcc python3-dev python3-venv)
if [ "$want_test" = 1 ]; then
    apt_packages+=(prometheus prometheus-alertmanager systemd systemd-container systemd-journal-remote debootstrap openssl
        zsh jsonnet victoria-metrics)
fi

missing=()
for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "dev-setup: installing system packages: ${missing[*]}" >&2
    # Another apt (unattended-upgrades on a fresh machine) may hold the dpkg lock: wait for it, not exit 100.
    lock_wait=(-o DPkg::Lock::Timeout=600)
    $sudo apt-get "${lock_wait[@]}" update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get "${lock_wait[@]}" install -y -qq --no-install-recommends \
        "${missing[@]}" >&2
fi

# The distribution's interpreter, the one the packages above are for and the Debian package runs under,
# even where another python3 comes first on PATH (pyenv's builds lack PGO/LTO: ~4 % more CPU for the
# daemon, README Performance). PYTHON=... chooses another.
python=${PYTHON:-$([ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)}
if [ ! -x .venv/bin/python ]; then
    echo "dev-setup: creating .venv with $($python --version)" >&2
    "$python" -m venv .venv
fi

extras=""
[ "$want_test" = 1 ] && extras="[test]"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras}" >&2
echo "dev-setup: ready. Run memmond as .venv/bin/memmond, or put it on PATH for this shell with" >&2
echo "    source .venv/bin/activate" >&2
echo "(packaging/install.sh installs it for good, with /usr/local/bin/memmond and shell completion)" >&2
