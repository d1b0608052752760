# The .deb packages, sourced by scripts/test and scripts/package. `package_build` builds the
# amd64 and arm64 .debs with cargo-deb into target/debian/; `package_check` looks inside them
# (dpkg-deb --contents, lintian); `package_chroot_test` installs, upgrades and purges the amd64
# .deb in a Debian bookworm chroot made by mmdebstrap and runs systemd-analyze on the units.
#
# Needs (installed when missing): cargo-deb from crates.io (pinned), Debian's dpkg-dev (the
# shlibs for Depends), lintian, mmdebstrap. The arm64 build needs scripts/lib/cross.sh's set-up.

CARGO_DEB_VERSION=3.6.3
PACKAGE_TOOLS=(dpkg-dev lintian mmdebstrap)

package_provision() {
  local missing=() p
  for p in "${PACKAGE_TOOLS[@]}"; do
    if ! dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing Debian packages for packaging: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
  if ! cargo deb --version 2>/dev/null | grep -q "$CARGO_DEB_VERSION"; then
    echo "==> cargo install cargo-deb $CARGO_DEB_VERSION (crates.io)"
    cargo install --locked --quiet cargo-deb --version "$CARGO_DEB_VERSION"
  fi
}

# package_assets: the man pages (gzipped) and completions, generated from the CLI definition.
package_assets() {
  rm -rf target/assets
  cargo run --locked --quiet --release --bin simdondar-gen-assets -- target/assets >/dev/null
  gzip -9n target/assets/man/*.1
}

# package_build [VERSION]: both .debs; VERSION overrides the Debian version (the upgrade test).
package_build() {
  package_provision || return 1
  local version_args=()
  [ -n "${1:-}" ] && version_args=(--deb-version "$1")
  package_assets || return 1
  echo "==> cargo deb (amd64)"
  cargo build --locked --release --bin simdondar-backup
  cargo deb --no-build "${version_args[@]}" --output target/debian/ >/dev/null
  echo "==> cargo deb (arm64)"
  source scripts/lib/cross.sh
  cross_provision || return 1
  (cross_env && cargo build --locked --release --target "$CROSS_TARGET" --bin simdondar-backup) || return 1
  (cross_env && cargo deb --no-build --target "$CROSS_TARGET" "${version_args[@]}" \
    --output target/debian/ >/dev/null) || return 1
  ls -l target/debian/*.deb
}
