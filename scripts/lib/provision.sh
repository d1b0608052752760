# Installs what a fresh Debian 12 machine lacks for building, testing and the demo (sourced by
# scripts/test and scripts/demo). Debian packages by name; crates come from crates.io via cargo.

PROVISION_PACKAGES=(
  build-essential pkg-config      # cc for -sys crates (bundled SQLite, zstd)
  mariadb-server mariadb-client   # the database the tests and the demo dump and restore
  zstd coreutils                  # zstd -t and sha256sum -c check what we write
  util-linux mount                # mount (read-only tmpfs targets in tests), losetup
  e2fsprogs                       # mkfs.ext4 for loop-device targets that fill up
  openssh-server openssh-client   # the ssh-tar source and its test sshd on loopback
  udev libudev-dev                # disk discovery (systemd-udevd, libudev for the udev crate)
  fuse3 exfat-fuse exfatprogs     # exFAT through FUSE (this kernel has no exfat)
  ntfs-3g                         # NTFS through FUSE
  fusefat dosfstools              # FAT through FUSE, mkfs.vfat and fsck.vfat for the tests
  age                             # the standard age tool decrypts what the appliance encrypts
  curl                            # the optional failure/recovery webhook
  python3-aiosmtpd openssl        # the alert mail's test relay (STARTTLS, AUTH) and its certificates
  sqlite3                         # the demo shows the catalog
  chromium fonts-liberation       # reports and receipts rendered to PNG in the tests
  rclone                          # a second, independent S3 client for the off-site tests
  faketime                        # a skewed clock for the off-site signing test
  prometheus python3-prometheus-client  # promtool (alert rules, metrics) and a metrics parser
)

# The Garage object store the off-site tests start on loopback (issue 16). Not in Debian 12: built
# from crates.io once per machine (about 10 minutes on 2 cores) and kept under this cache folder, so
# later runs of scripts/test and fresh clones on the same machine reuse it.
GARAGE_VERSION=2.5.0
GARAGE_ROOT=/var/cache/simdondar-test/garage-$GARAGE_VERSION
export SIMDONDAR_GARAGE="$GARAGE_ROOT/bin/garage"

# start_udevd: the disk tests need a running systemd-udevd (containers and CI have none).
# The control socket file outlives a udevd that was killed, so ask udevd itself (ping).
start_udevd() {
  if ! udevadm control --ping --timeout=2 >/dev/null 2>&1; then
    echo "==> starting systemd-udevd"
    rm -f /run/udev/control
    /lib/systemd/systemd-udevd --daemon
    udevadm trigger --subsystem-match=block --action=change >/dev/null 2>&1 || true
    udevadm settle --timeout=10 || true
  fi
}

# provision_garage: builds the pinned Garage server into $GARAGE_ROOT unless it is there already.
provision_garage() {
  if [ -x "$SIMDONDAR_GARAGE" ]; then
    return 0
  fi
  echo "==> building the Garage $GARAGE_VERSION object store for the off-site tests (once per machine, ~10 min)"
  local started=$SECONDS
  cargo install --locked --quiet garage --version "$GARAGE_VERSION" --root "$GARAGE_ROOT.partial"
  rm -rf "$GARAGE_ROOT"
  mv "$GARAGE_ROOT.partial" "$GARAGE_ROOT"
  echo "==> Garage built in $((SECONDS - started)) s: $SIMDONDAR_GARAGE"
}

provision() {
  local missing=() p
  for p in "${PROVISION_PACKAGES[@]}"; do
    if ! dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing Debian packages: ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
      echo "need root to install packages (run as root, or: sudo apt-get install ${missing[*]})" >&2
      return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
  # The restore test's sandbox user, as the package's sysusers entry creates it.
  if ! getent passwd simdondar-restore >/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "need root to create the restore test's sandbox user simdondar-restore" >&2
      return 1
    fi
    echo "==> creating the system user simdondar-restore (the restore test's sandbox)"
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin simdondar-restore
  fi
  if ! command -v cargo >/dev/null; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
      export PATH="$HOME/.cargo/bin:$PATH"
    else
      echo "cargo not found: install Rust with rustup (https://rustup.rs), then run this again" >&2
      return 1
    fi
  fi
}
