# The arm64 (Raspberry Pi 4/5) cross build, sourced by scripts/test: `cross_build` installs what
# is missing, builds the release binary for aarch64-unknown-linux-gnu and checks it.
#
# What it needs and where it comes from:
# - the Rust standard library for the target: `rustup target add aarch64-unknown-linux-gnu`;
# - a linker and C compiler for arm64 (the -sys crates compile C: bundled SQLite, zstd):
#   Debian's `gcc-aarch64-linux-gnu` (brings binutils and the arm64 libc to link against);
# - libudev for arm64 (the `udev` crate links it through pkg-config): Debian multiarch,
#   `dpkg --add-architecture arm64` and `libudev-dev:arm64` from the same mirror;
# - optionally `qemu-user-static` to run the built binary's `--help` once.
# Run as root (it installs packages). CROSS_SKIP_QEMU=1 skips the qemu run.

CROSS_TARGET=aarch64-unknown-linux-gnu
CROSS_PACKAGES=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross "libudev-dev:arm64" file)

# cross_provision: installs the target's standard library and the Debian packages above.
cross_provision() {
  if ! rustup target list --installed | grep -qx "$CROSS_TARGET"; then
    echo "==> rustup target add $CROSS_TARGET"
    rustup target add "$CROSS_TARGET"
  fi
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "==> dpkg --add-architecture arm64"
    dpkg --add-architecture arm64
  fi
  local missing=() p
  for p in "${CROSS_PACKAGES[@]}"; do
    if ! dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if [ "${CROSS_SKIP_QEMU:-0}" != 1 ] && ! command -v qemu-aarch64-static >/dev/null; then
    missing+=(qemu-user-static)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing Debian packages for the arm64 build: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

# cross_env: the environment cargo, cc-rs and pkg-config need to build for arm64.
cross_env() {
  export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
  export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
  export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
  # pkg-config must find the arm64 libudev.pc and nothing of the host's.
  export PKG_CONFIG_ALLOW_CROSS=1
  export PKG_CONFIG_PATH=""
  export PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig
  export PKG_CONFIG_SYSROOT_DIR=/
}

# cross_build: provision, build the release binary for arm64, check it is an arm64 ELF and, when
# qemu-user-static is there, that it runs (`--help`).
cross_build() {
  cross_provision || return 1
  local started=$SECONDS bin="target/$CROSS_TARGET/release/simdondar-backup"
  echo "==> cargo build --locked --release --target $CROSS_TARGET"
  (cross_env && cargo build --locked --release --target "$CROSS_TARGET") || {
    echo "the arm64 cross build failed (see above)" >&2
    return 1
  }
  echo "==> built $bin in $((SECONDS - started)) s"
  local what
  what=$(file -b "$bin")
  echo "    $what"
  case "$what" in
    *"ELF 64-bit"*"ARM aarch64"*) ;;
    *)
      echo "$bin is not an arm64 ELF executable: $what" >&2
      return 1
      ;;
  esac
  if command -v qemu-aarch64-static >/dev/null; then
    echo "==> qemu-aarch64-static $bin --help"
    if ! qemu-aarch64-static -L /usr/aarch64-linux-gnu "$bin" --help >/dev/null; then
      echo "the arm64 binary does not run under qemu-aarch64-static" >&2
      return 1
    fi
    echo "    runs under qemu"
  fi
}
