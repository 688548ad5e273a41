#!/usr/bin/env bash
# Builds the Debian package: target/debian/tcpdoctor_<version>_<arch>.deb
# with the binary, its manual pages, bash/zsh/fish completions, the systemd
# unit of `tcpdoctor serve` and a default /etc/tcpdoctor/config.toml, all
# generated from the binary itself so they match it. Then runs lintian on
# it when lintian is installed. Needs cargo-deb (cargo install cargo-deb).
set -euo pipefail
cd "$(dirname "$0")/.."
./build-deps.sh
cargo build --release --locked
bin=target/release/tcpdoctor
assets=target/assets
rm -rf "$assets"
mkdir -p "$assets/man" "$assets/completions"
"$bin" man --out-dir "$assets/man"
gzip -9n "$assets"/man/*.1
"$bin" completions bash > "$assets/completions/tcpdoctor.bash"
"$bin" completions zsh > "$assets/completions/_tcpdoctor"
"$bin" completions fish > "$assets/completions/tcpdoctor.fish"
"$bin" config --default > "$assets/config.toml"
# The unit as packaged: the binary is /usr/bin/tcpdoctor.
sed 's|/usr/local/bin/tcpdoctor|/usr/bin/tcpdoctor|g' deploy/systemd/tcpdoctor.service \
    > "$assets/tcpdoctor.service"
cargo deb --no-build
deb=$(ls -t target/debian/tcpdoctor_*.deb | head -1)
echo "built $deb"
if command -v lintian >/dev/null 2>&1; then
    # Errors fail the build; warnings are shown.
    lintian --fail-on error "$deb"
fi
