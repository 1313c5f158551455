#!/usr/bin/env bash
# Installs memmond as a systemd service on Debian/Ubuntu:
#   PREFIX/venv                     memmond in its own virtualenv (default PREFIX /opt/memmond)
#   PREFIX/README.md                the documentation the unit's Documentation= points at
#   /etc/systemd/system/memmond.service
#   /etc/memmond/memmond.yaml       the default config, never overwriting an edited one
#   /usr/local/bin/memmond          a symlink into the venv: `memmond` on PATH
#   /usr/local/share/bash-completion/completions/memmond, /usr/local/share/zsh/site-functions/_memmond
#
#   packaging/install.sh [--prefix DIR] [--destdir DIR] [--no-apt] [--wheels DIR]
#   packaging/install.sh --uninstall [--prefix DIR] [--destdir DIR]
#
# --destdir stages everything under DIR (for packagers and tests): nothing outside it is touched and
# systemctl is not called. --no-apt skips installing the build dependencies of systemd-python.
# --wheels DIR installs offline from wheels made with `pip wheel . -w DIR` (an air-gapped host; no
# compiler needed there).
set -euo pipefail

prefix=/opt/memmond
destdir=""
uninstall=0
use_apt=1
wheels=""
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix=$2; shift 2 ;;
        --destdir) destdir=${2%/}; shift 2 ;;
        --uninstall) uninstall=1; shift ;;
        --no-apt) use_apt=0; shift ;;
        --wheels) wheels=$2; use_apt=0; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

repo=$(cd "$(dirname "$0")/.." && pwd)
unit_path="$destdir/etc/systemd/system/memmond.service"
bin_link="$destdir/usr/local/bin/memmond"
bash_completion="$destdir/usr/local/share/bash-completion/completions/memmond"
zsh_completion="$destdir/usr/local/share/zsh/site-functions/_memmond"
config_dir="$destdir/etc/memmond"
install_dir="$destdir$prefix"

systemd_running() {
    [ -z "$destdir" ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]
}

if [ "$uninstall" = 1 ]; then
    if systemd_running; then
        systemctl disable --now memmond.service 2>/dev/null || true
    fi
    rm -f "$unit_path" "$bash_completion" "$zsh_completion"
    # the symlink only if it is ours (points into this prefix)
    if [ -L "$bin_link" ] && [ "$(readlink "$bin_link")" = "$prefix/venv/bin/memmond" ]; then
        rm -f "$bin_link"
    fi
    rm -rf "$install_dir"
    if systemd_running; then
        systemctl daemon-reload
    fi
    echo "memmond removed from $install_dir; $config_dir is kept (remove it by hand if you want)."
    exit 0
fi

if [ "$(id -u)" -ne 0 ] && [ -z "$destdir" ]; then
    echo "install.sh: run as root (it writes $prefix and /etc), or stage with --destdir DIR" >&2
    exit 1
fi

if [ "$use_apt" = 1 ] && command -v apt-get >/dev/null; then
    missing=()
    for pkg in python3 python3-venv python3-dev libsystemd-dev pkg-config gcc; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" -ne 0 ]; then
            echo "install.sh: needs these packages first: ${missing[*]}" >&2
            exit 1
        fi
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
    fi
fi

# The distribution's interpreter, the one the packages above are for and the Debian package runs under,
# even where another python3 comes first on PATH (pyenv's builds lack PGO/LTO: ~4 % more CPU for the
# daemon, README Performance). PYTHON=... chooses another.
python=${PYTHON:-$([ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)}
echo "install.sh: creating $install_dir/venv"
mkdir -p "$install_dir"
"$python" -m venv "$install_dir/venv"
if [ -n "$wheels" ]; then
    "$install_dir/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-index \
        --find-links "$wheels" memmond
else
    "$install_dir/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$repo"
fi
install -m 0644 "$repo/README.md" "$install_dir/README.md"
mkdir -p "$install_dir/share"
cp -r "$repo/config/prometheus" "$install_dir/share/prometheus" 2>/dev/null || true
cp -r "$repo/grafana" "$install_dir/share/grafana" 2>/dev/null || true

# The unit as shipped, with ExecStart and Documentation pointing at this prefix.
mkdir -p "$(dirname "$unit_path")"
sed -e "s#/opt/memmond#$prefix#g" "$repo/packaging/memmond.service" > "$unit_path"
chmod 0644 "$unit_path"

mkdir -p "$config_dir"
if [ ! -e "$config_dir/memmond.yaml" ]; then
    install -m 0644 "$repo/config/memmond.yaml" "$config_dir/memmond.yaml"
    echo "install.sh: installed the default config $config_dir/memmond.yaml"
elif ! cmp -s "$repo/config/memmond.yaml" "$config_dir/memmond.yaml"; then
    install -m 0644 "$repo/config/memmond.yaml" "$config_dir/memmond.yaml.dist"
    echo "install.sh: kept your $config_dir/memmond.yaml; the new default is $config_dir/memmond.yaml.dist"
fi
"$install_dir/venv/bin/memmond" check-config "$config_dir/memmond.yaml"

# On PATH, with completion: the README's `memmond ...` commands run as written.
mkdir -p "$(dirname "$bin_link")" "$(dirname "$bash_completion")" "$(dirname "$zsh_completion")"
ln -sfn "$prefix/venv/bin/memmond" "$bin_link"
"$install_dir/venv/bin/memmond" completion bash > "$bash_completion"
"$install_dir/venv/bin/memmond" completion zsh > "$zsh_completion"

if systemd_running; then
    systemctl daemon-reload
fi
echo "install.sh: memmond $("$install_dir/venv/bin/memmond" --version | cut -d' ' -f2) installed in $install_dir"
echo "Start it now and at every boot with:"
echo "    systemctl enable --now memmond"
