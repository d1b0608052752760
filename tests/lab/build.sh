# The lab's build steps, sourced by scripts/lab (tests/lab/README.md):
#   lab_provision         the host's tools (qemu, mmdebstrap, mkfs for the USB disks)
#   lab_rootfs REBUILD    $LAB_ROOTFS: Debian bookworm amd64 from Debian's archive with
#                         mmdebstrap (systemd, udev, MariaDB, the kernel), kept between runs and
#                         clones in /var/cache/simdondar-test/ under a name that changes with the
#                         suite and the package list (so a changed list builds a new one)
#   lab_image             target/lab/root.img (ext4, no partition table), vmlinuz, initrd.img: the
#                         rootfs with the project's amd64 .deb (built by scripts/lib/package.sh
#                         when missing or older than the sources) and the lab's guest files
LAB_SUITE=bookworm
LAB_MIRROR=http://deb.debian.org/debian
LAB_PACKAGES=(
  systemd-sysv udev dbus kmod linux-image-amd64 initramfs-tools   # init, devices, Debian's kernel
  mariadb-server mariadb-client                                    # the database and mariadb-dump
  zstd age fuse3 exfat-fuse ntfs-3g                                # the .deb's Recommends
  exfatprogs dosfstools e2fsprogs ntfs-3g util-linux procps       # mkfs, fsck in the checker
  python3                                                          # the guest checker (json, sqlite3)
)

lab_provision() {
  local need=(qemu-system-x86 qemu-utils mmdebstrap e2fsprogs dosfstools exfatprogs ntfs-3g)
  local missing=() p
  for p in "${need[@]}"; do
    dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

# The cached root file system's directory: one per suite and package list.
LAB_CACHE=${LAB_CACHE:-/var/cache/simdondar-test}
LAB_ROOTFS=$LAB_CACHE/lab-rootfs-$LAB_SUITE-$(echo "$LAB_SUITE ${LAB_PACKAGES[*]}" | sha256sum | cut -c1-12)

lab_rootfs() {
  local rebuild=$1 dir=$LAB_ROOTFS
  mkdir -p "$LAB_CACHE"
  if [ "$rebuild" = 0 ] && [ -x "$dir/usr/bin/mariadb" ]; then
    echo "==> reusing $dir (--rebuild to make it again)"
    return
  fi
  rm -rf "$dir" "$dir.tmp"
  echo "==> mmdebstrap $LAB_SUITE amd64 into $dir (about 4 minutes, once per machine)"
  local started=$SECONDS
  mmdebstrap --mode=root --variant=apt --arch=amd64 \
    --include="$(IFS=,; echo "${LAB_PACKAGES[*]}")" \
    --customize-hook='echo lab > "$1/etc/hostname"' \
    --customize-hook='rm -f "$1"/var/cache/apt/archives/*.deb' \
    "$LAB_SUITE" "$dir.tmp" "$LAB_MIRROR" >"$OUT/rootfs.log" 2>&1 \
    || { tail -n 30 "$OUT/rootfs.log" >&2; echo "mmdebstrap failed (log: $OUT/rootfs.log)" >&2; return 1; }
  mv "$dir.tmp" "$dir"
  echo "    $((SECONDS - started)) s"
}

# The .deb, rebuilt when a source is newer than it.
lab_deb() {
  local deb
  deb=$(ls -t "$REPO"/target/debian/simdondar-backup_*_amd64.deb 2>/dev/null | head -n 1 || true)
  if [ -z "$deb" ] || [ -n "$(find "$REPO/src" "$REPO/Cargo.toml" "$REPO/systemd" "$REPO/debian" -newer "$deb" -print -quit)" ]; then
    echo "==> building the amd64 .deb (scripts/lib/package.sh)" >&2
    # shellcheck source=scripts/lib/package.sh
    ( cd "$REPO" && . scripts/lib/package.sh && package_provision && package_assets \
        && cargo build --locked --release --bin simdondar-backup \
        && package_deb --output target/debian/ ) >&2 || return 1
    deb=$(ls -t "$REPO"/target/debian/simdondar-backup_*_amd64.deb | head -n 1)
  fi
  echo "$deb"
}

lab_image() {
  local deb stamp
  deb=$(lab_deb) || return 1
  stamp=$( (cat "$deb"; find "$REPO/tests/lab/guest" -type f -exec cat {} +; stat -c %Y "$LAB_ROOTFS") | sha256sum | cut -c1-16)
  if [ -s "$OUT/root.img" ] && [ "$(cat "$OUT/root.stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "==> reusing $OUT/root.img"
    return
  fi
  echo "==> the VM's root file system: rootfs + $(basename "$deb") + the lab's guest files"
  local dir=$OUT/rootdir
  rm -rf "$dir"
  cp -a "$LAB_ROOTFS" "$dir"
  cp "$deb" "$dir/tmp/simdondar-backup.deb"
  chroot "$dir" dpkg -i /tmp/simdondar-backup.deb >"$OUT/image.log" 2>&1 \
    || { tail -n 20 "$OUT/image.log" >&2; return 1; }
  rm -f "$dir/tmp/simdondar-backup.deb"
  sh "$REPO/tests/lab/guest/install.sh" "$dir" "$REPO/tests/lab/guest" >>"$OUT/image.log" 2>&1 \
    || { tail -n 20 "$OUT/image.log" >&2; return 1; }
  cp "$dir"/boot/vmlinuz-* "$OUT/vmlinuz"
  cp "$dir"/boot/initrd.img-* "$OUT/initrd.img"
  rm -f "$OUT/root.img"
  mkfs.ext4 -q -L LABROOT -d "$dir" "$OUT/root.img" 3G
  rm -rf "$dir"
  echo "$stamp" >"$OUT/root.stamp"
}
