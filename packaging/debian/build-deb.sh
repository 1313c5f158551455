#!/usr/bin/env bash
# Builds memmond_<version>_all.deb from this checkout with dpkg-deb: the package runs on Debian's own
# Python packages (no compiler, no virtualenv on the target), with the hardened unit, the config as a
# conffile, a man page generated from the argument parser and shell completion.
#
#   packaging/debian/build-deb.sh [OUTDIR]      (default: the current directory)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=$(cd "${1:-.}" && pwd)
python=${PYTHON:-python3}
version=$("$python" -c "import sys; sys.path.insert(0, '$repo'); import memmond; print(memmond.__version__)")
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

pkg="$stage/usr/lib/python3/dist-packages/memmond"
mkdir -p "$pkg"
(cd "$repo/memmond" && find . -name '*.py' -o -name 'py.typed' | while read -r f; do
    install -D -m 0644 "$f" "$pkg/$f"
done)
install -m 0644 "$repo/config/memmond.yaml" "$pkg/default_config.yaml"  # the link's target, not the link

install -D -m 0755 /dev/stdin "$stage/usr/bin/memmond" <<'SCRIPT'
#!/usr/bin/python3
import sys

from memmond.cli.main import main

sys.exit(main())
SCRIPT

install -D -m 0644 "$repo/config/memmond.yaml" "$stage/etc/memmond/memmond.yaml"
install -d -m 0755 "$stage/lib/systemd/system"
sed -e 's#^ExecStart=/opt/memmond/venv/bin/memmond#ExecStart=/usr/bin/memmond#' \
    -e 's#^Documentation=file:/opt/memmond/README.md#Documentation=man:memmond(1) file:/usr/share/doc/memmond/README.md#' \
    -e 's#^\# Installed by packaging/install.sh.*#\# Installed by the memmond package; the config lives in /etc/memmond/memmond.yaml.#' \
    "$repo/packaging/memmond.service" > "$stage/lib/systemd/system/memmond.service"
chmod 0644 "$stage/lib/systemd/system/memmond.service"

doc="$stage/usr/share/doc/memmond"
install -D -m 0644 "$repo/README.md" "$doc/README.md"
printf 'memmond\n\nLicense: MIT OR Apache-2.0\n' > "$doc/copyright"
install -d "$stage/usr/share/memmond"
cp -r "$repo/config/prometheus" "$stage/usr/share/memmond/prometheus"
cp -r "$repo/grafana/dashboards" "$stage/usr/share/memmond/grafana-dashboards"

PYTHONPATH="$repo" "$python" -m memmond completion bash | install -D -m 0644 /dev/stdin \
    "$stage/usr/share/bash-completion/completions/memmond"
PYTHONPATH="$repo" "$python" -m memmond completion zsh | install -D -m 0644 /dev/stdin \
    "$stage/usr/share/zsh/vendor-completions/_memmond"
install -d "$stage/usr/share/man/man1"
"$python" "$repo/packaging/debian/manpage.py" | gzip -9n > "$stage/usr/share/man/man1/memmond.1.gz"

install -d "$stage/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" "$repo/packaging/debian/control" > "$stage/DEBIAN/control"
echo /etc/memmond/memmond.yaml > "$stage/DEBIAN/conffiles"
for script in postinst prerm postrm; do
    install -m 0755 "$repo/packaging/debian/$script" "$stage/DEBIAN/$script"
done
find "$stage" -type d -exec chmod 0755 {} +
dpkg-deb --root-owner-group -Zxz --build "$stage" "$out/memmond_${version}_all.deb" >/dev/null
echo "$out/memmond_${version}_all.deb"
