# The .deb packages, sourced by scripts/test and scripts/package. `package_build` builds the
# amd64 and arm64 .debs with cargo-deb into target/debian/; `package_check` looks inside them
# (dpkg-deb --contents, lintian); `package_chroot_test` installs, upgrades and purges the amd64
# .deb in a Debian 12 bookworm chroot made by mmdebstrap and runs systemd-analyze on the units,
# then (`package_chroot_trixie`) installs it in a Debian 13 trixie chroot: the package must
# install on both (Raspberry Pi OS bookworm and trixie are built on them).
#
# Needs (installed when missing): cargo-deb from crates.io (pinned), Debian's dpkg-dev (the
# shlibs for Depends), lintian, mmdebstrap. The arm64 build needs scripts/lib/cross.sh's set-up.

CARGO_DEB_VERSION=3.8.0
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

# package_deb ARCH_ARGS… : one .deb from the binaries already built (cargo deb --no-build).
package_deb() {
  cargo deb --no-build "$@" >/dev/null
}

# package_build: both .debs into target/debian/.
package_build() {
  package_provision || return 1
  package_assets || return 1
  echo "==> cargo deb (amd64)"
  cargo build --locked --release --bin simdondar-backup
  package_deb --output target/debian/ || return 1
  echo "==> cargo deb (arm64)"
  source scripts/lib/cross.sh
  cross_provision || return 1
  (cross_env && cargo build --locked --release --target "$CROSS_TARGET" --bin simdondar-backup) || return 1
  (cross_env && package_deb --target "$CROSS_TARGET" --output target/debian/) || return 1
  ls -l target/debian/*.deb
}

# package_check: what is inside both .debs, lintian without errors, and the arm64 binary from
# its package runs under qemu.
package_check() {
  local deb arch want f contents
  for arch in amd64 arm64; do
    deb=$(ls target/debian/simdondar-backup_*_"$arch".deb)
    echo "==> dpkg-deb --contents $deb"
    [ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || { echo "$deb: Architecture is not $arch" >&2; return 1; }
    contents=$(dpkg-deb --contents "$deb" | awk '{print $1, $NF}')
    for want in \
      "-rwxr-xr-x ./usr/bin/simdondar-backup" \
      "-rw-r----- ./etc/simdondar-backup/config.toml" \
      "-rw-r--r-- ./usr/lib/systemd/system/simdondar-backup.service" \
      "-rw-r--r-- ./usr/lib/sysusers.d/simdondar-backup.conf" \
      "-rw-r--r-- ./usr/lib/tmpfiles.d/simdondar-backup.conf" \
      "-rw-r--r-- ./usr/share/man/man1/simdondar-backup.1.gz" \
      "-rw-r--r-- ./usr/share/man/man1/simdondar-backup-verify.1.gz" \
      "-rw-r--r-- ./usr/share/bash-completion/completions/simdondar-backup" \
      "-rw-r--r-- ./usr/share/zsh/vendor-completions/_simdondar-backup" \
      "-rw-r--r-- ./usr/share/fish/vendor_completions.d/simdondar-backup.fish" \
      "-rw-r--r-- ./usr/share/simdondar-backup/10-simdondar-watchdog.conf" \
      "-rw-r--r-- ./usr/share/doc/simdondar-backup/copyright" \
      "-rw-r--r-- ./usr/share/doc/simdondar-backup/changelog.Debian.gz"; do
      grep -qxF -- "$want" <<<"$contents" || { echo "$deb lacks: $want" >&2; return 1; }
    done
    dpkg-deb -I "$deb" conffiles | grep -qx /etc/simdondar-backup/config.toml \
      || { echo "$deb: the config is not a conffile" >&2; return 1; }
    dpkg-deb -I "$deb" postinst | grep -q 'chgrp simdondar "\$CONFIG"' \
      || { echo "$deb: the postinst does not give the config its group" >&2; return 1; }
    echo "    $(wc -l <<<"$contents") entries, $(du -k "$deb" | cut -f1) KiB, contents as expected"
  done
  echo "==> lintian (no errors allowed)"
  lintian --fail-on error --tag-display-limit 0 target/debian/simdondar-backup_*.deb || {
    echo "lintian found errors in the packages (above)" >&2
    return 1
  }
  echo "==> the arm64 package's binary under qemu-aarch64"
  f=$(mktemp -d)
  dpkg-deb -x target/debian/simdondar-backup_*_arm64.deb "$f"
  file -b "$f/usr/bin/simdondar-backup" | grep -q "ARM aarch64" || { echo "not an arm64 binary" >&2; return 1; }
  qemu-aarch64-static -L /usr/aarch64-linux-gnu "$f/usr/bin/simdondar-backup" --help >/dev/null \
    || { echo "the packaged arm64 binary does not run under qemu" >&2; return 1; }
  echo "    runs"
  rm -rf "$f"
}

# package_chroot_test: install → upgrade → remove → purge of the amd64 .deb in a fresh Debian
# bookworm chroot (mmdebstrap, packages from deb.debian.org), with systemd-analyze verify and the
# offline security score of the unit. The score is written to target/debian/security.txt.
package_chroot_test() {
  local root="$PWD/target/chroot-bookworm" deb up cat1 cat2
  deb=$(ls "$PWD"/target/debian/simdondar-backup_*_amd64.deb)
  rm -rf "$root"
  echo "==> mmdebstrap bookworm (amd64) into $root"
  local started=$SECONDS
  mmdebstrap --quiet --variant=apt --include=systemd,ca-certificates bookworm "$root" \
    "deb http://deb.debian.org/debian bookworm main" \
    "deb http://deb.debian.org/debian bookworm-updates main" \
    "deb http://deb.debian.org/debian-security bookworm-security main" || return 1
  echo "    built in $((SECONDS - started)) s"
  in_root() { chroot "$root" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }
  mkdir -p "$root/tmp/debs"
  cp "$deb" "$root/tmp/debs/"
  # The upgrade: the same binaries with a higher Debian version. (cargo-deb deletes the earlier
  # .deb of the same architecture from target/debian/ when it builds one: put it back.)
  package_deb --deb-version 0.1.0-2 --output "$root/tmp/debs/" || return 1
  cp "$root/tmp/debs/$(basename "$deb")" "$deb"
  up=$(ls "$root"/tmp/debs/simdondar-backup_0.1.0-2_amd64.deb)

  echo "==> install (apt resolves Depends from Debian)"
  in_root apt-get update -qq || return 1
  in_root apt-get install -y -qq --no-install-recommends "/tmp/debs/$(basename "$deb")" >/dev/null || return 1
  in_root simdondar-backup --version
  in_root getent group simdondar >/dev/null || { echo "group simdondar was not created" >&2; return 1; }
  in_root getent passwd simdondar-restore >/dev/null \
    || { echo "the restore test's sandbox user simdondar-restore was not created" >&2; return 1; }
  [ "$(stat -c '%a' "$root/etc/simdondar-backup/config.toml")" = 640 ] \
    && [ "$(in_root stat -c '%U:%G' /etc/simdondar-backup/config.toml)" = root:simdondar ] \
    || { echo "the installed config is not 0640 root:simdondar" >&2; return 1; }
  [ "$(in_root systemctl is-enabled simdondar-backup.service)" = enabled ] \
    || { echo "the unit is not enabled after install" >&2; return 1; }
  in_root simdondar-backup config check || { echo "the shipped config does not pass config check" >&2; return 1; }
  in_root mariadb-dump --version >/dev/null || { echo "mariadb-dump missing after install" >&2; return 1; }
  echo "==> systemd-analyze verify"
  in_root systemd-analyze verify --man=no /usr/lib/systemd/system/simdondar-backup.service || return 1
  echo "==> systemd-analyze security --offline"
  in_root systemd-analyze security --offline=true --no-pager /usr/lib/systemd/system/simdondar-backup.service \
    >target/debian/security.txt 2>&1 || true
  grep -E "Overall exposure level" target/debian/security.txt || { cat target/debian/security.txt; return 1; }

  echo "==> upgrade keeps the edited config and the catalog"
  in_root simdondar-backup audit verify >/dev/null || return 1
  cat1=$(sha256sum "$root/var/lib/simdondar-backup/catalog.sqlite" | cut -d' ' -f1)
  echo '# edited by the site' >>"$root/etc/simdondar-backup/config.toml"
  # What a package from before issue 12 left: root:root 0644. The upgrade tightens it.
  chmod 0644 "$root/etc/simdondar-backup/config.toml"
  chgrp 0 "$root/etc/simdondar-backup/config.toml"
  mkdir -p "$root/var/lib/simdondar-backup/receipts"
  echo receipt >"$root/var/lib/simdondar-backup/receipts/kept.html"
  in_root apt-get install -y -qq --no-install-recommends "/tmp/debs/$(basename "$up")" >/dev/null || return 1
  [ "$(in_root dpkg-query -W -f '${Version}' simdondar-backup)" = 0.1.0-2 ] || { echo "not upgraded" >&2; return 1; }
  grep -qx '# edited by the site' "$root/etc/simdondar-backup/config.toml" \
    || { echo "the upgrade replaced the edited config" >&2; return 1; }
  [ "$(in_root stat -c '%U:%G %a' /etc/simdondar-backup/config.toml)" = "root:simdondar 640" ] \
    || { echo "the upgrade did not make the old 0644 config 0640 root:simdondar" >&2; return 1; }
  echo "==> an upgrade keeps a mode the administrator chose (0600 root:root)"
  chmod 0600 "$root/etc/simdondar-backup/config.toml"
  chgrp 0 "$root/etc/simdondar-backup/config.toml"
  in_root sh /var/lib/dpkg/info/simdondar-backup.postinst configure 0.1.0-2 >/dev/null || return 1
  [ "$(in_root stat -c '%U:%G %a' /etc/simdondar-backup/config.toml)" = "root:root 600" ] \
    || { echo "the postinst overrode the administrator's mode" >&2; return 1; }
  cat2=$(sha256sum "$root/var/lib/simdondar-backup/catalog.sqlite" | cut -d' ' -f1)
  [ "$cat1" = "$cat2" ] || { echo "the upgrade changed the catalog" >&2; return 1; }
  [ "$(in_root systemctl is-enabled simdondar-backup.service)" = enabled ] || return 1

  echo "==> remove keeps config and catalog; purge keeps the catalog in /var/backups only"
  in_root apt-get remove -y -qq simdondar-backup >/dev/null || return 1
  [ ! -e "$root/usr/bin/simdondar-backup" ] || { echo "binary left after remove" >&2; return 1; }
  [ -f "$root/etc/simdondar-backup/config.toml" ] || { echo "remove deleted the config" >&2; return 1; }
  [ -f "$root/var/lib/simdondar-backup/catalog.sqlite" ] || { echo "remove deleted the catalog" >&2; return 1; }
  in_root apt-get purge -y -qq simdondar-backup >/dev/null || return 1
  for f in /etc/simdondar-backup /var/lib/simdondar-backup /usr/lib/systemd/system/simdondar-backup.service \
           /etc/systemd/system/multi-user.target.wants/simdondar-backup.service; do
    [ ! -e "$root$f" ] || { echo "purge left $f" >&2; return 1; }
  done
  ls "$root"/var/backups/simdondar-backup/state-*/catalog.sqlite >/dev/null 2>&1 \
    || { echo "purge did not keep the catalog in /var/backups/simdondar-backup" >&2; return 1; }
  [ "$(sha256sum "$root"/var/backups/simdondar-backup/state-*/catalog.sqlite | cut -d' ' -f1)" = "$cat1" ] \
    || { echo "the kept catalog differs" >&2; return 1; }
  [ -f "$root"/var/backups/simdondar-backup/state-*/receipts/kept.html ] \
    || { echo "purge did not keep the receipts" >&2; return 1; }
  echo "    install, upgrade, remove and purge behaved"
  rm -rf "$root"
  package_chroot_trixie
}

# package_chroot_trixie: the amd64 .deb in a fresh Debian 13 trixie chroot (mmdebstrap, trixie's
# own apt inside it; the host's debian-archive-keyring has trixie's keys): its Depends resolve and
# install from trixie, the program runs, the shipped config passes `config check`, the unit passes
# trixie's systemd-analyze verify, and every Recommends and Suggests exists in trixie (resolved by
# apt, not downloaded). The arm64 .deb is installed into trixie by image/build. Measured: 145 s
# with the machine loaded (load average about 7 on 2 cores), most of it mmdebstrap.
package_chroot_trixie() {
  local root="$PWD/target/chroot-trixie" deb started=$SECONDS rel
  deb=$(ls "$PWD"/target/debian/simdondar-backup_*_amd64.deb)
  rm -rf "$root"
  echo "==> mmdebstrap trixie (amd64) into $root"
  mmdebstrap --quiet --variant=apt --include=systemd,ca-certificates trixie "$root" \
    "deb http://deb.debian.org/debian trixie main" \
    "deb http://deb.debian.org/debian trixie-updates main" \
    "deb http://deb.debian.org/debian-security trixie-security main" || return 1
  in_root() { chroot "$root" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }
  grep -q '^VERSION_CODENAME=trixie$' "$root/etc/os-release" || { echo "the chroot is not trixie" >&2; return 1; }
  mkdir -p "$root/tmp/debs"
  cp "$deb" "$root/tmp/debs/"
  echo "==> install on trixie (apt resolves Depends from Debian 13)"
  in_root apt-get update -qq || return 1
  in_root apt-get install -y -qq --no-install-recommends "/tmp/debs/$(basename "$deb")" >/dev/null || return 1
  in_root simdondar-backup --version
  in_root mariadb-dump --version >/dev/null || { echo "mariadb-dump missing after install on trixie" >&2; return 1; }
  in_root simdondar-backup config check || { echo "the shipped config does not pass config check on trixie" >&2; return 1; }
  [ "$(in_root systemctl is-enabled simdondar-backup.service)" = enabled ] \
    || { echo "the unit is not enabled after install on trixie" >&2; return 1; }
  in_root systemd-analyze verify --man=no /usr/lib/systemd/system/simdondar-backup.service || return 1
  # Recommends and Suggests by name (alternatives: the first), simulated: each must resolve.
  rel=$(dpkg-deb -f "$deb" Recommends Suggests | sed 's/^[A-Za-z]*: //' | tr ',' '\n' \
    | sed 's/|.*//; s/(.*)//; s/ //g' | grep . | sort -u | tr '\n' ' ')
  in_root apt-get install -s -qq $rel >/dev/null \
    || { echo "on trixie, these Recommends/Suggests do not resolve: $rel" >&2; return 1; }
  echo "    installed, runs, unit verified; Recommends/Suggests resolve ($rel); $((SECONDS - started)) s"
  rm -rf "$root"
}
