#!/bin/sh
# Puts the lab's guest files into an unpacked root file system (tests/lab/README.md):
#   install.sh ROOTDIR GUESTDIR
# fstab, the command channel (lab-shell on the virtio-serial port "lab"), the one-time database
# setup (lab-setup), the agent's lab configuration with an age recipient, the checker (lab-check).
set -eu
R=$1; G=$2
cat >"$R/etc/fstab" <<'FSTAB'
LABEL=LABROOT / ext4 errors=remount-ro 0 1
FSTAB
install -m 0755 "$G/lab-shell" "$R/usr/local/sbin/lab-shell"
install -m 0755 "$G/lab-check" "$R/usr/local/sbin/lab-check"
install -m 0755 "$G/lab-setup" "$R/usr/local/sbin/lab-setup"
install -m 0644 "$G/lab-shell.service" "$R/etc/systemd/system/lab-shell.service"
install -m 0644 "$G/lab-debug.service" "$R/etc/systemd/system/lab-debug.service"
install -m 0644 "$G/lab-setup.service" "$R/etc/systemd/system/lab-setup.service"
ln -sf /etc/systemd/system/lab-shell.service "$R/etc/systemd/system/multi-user.target.wants/lab-shell.service"
ln -sf /etc/systemd/system/lab-debug.service "$R/etc/systemd/system/multi-user.target.wants/lab-debug.service"
ln -sf /etc/systemd/system/lab-setup.service "$R/etc/systemd/system/multi-user.target.wants/lab-setup.service"
# The agent after the database is set up (the real unit is left as packaged).
mkdir -p "$R/etc/systemd/system/simdondar-backup.service.d"
printf '[Unit]\nAfter=lab-setup.service\nWants=lab-setup.service\n' \
  >"$R/etc/systemd/system/simdondar-backup.service.d/lab.conf"
# Nothing that wakes up by itself and competes for the emulated CPU.
for t in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer man-db.timer dpkg-db-backup.timer; do
  ln -sf /dev/null "$R/etc/systemd/system/$t"
done
# The age identity the checker restores manual copies with; its recipient in the config.
chroot "$R" age-keygen -o /root/lab.key 2>/dev/null
RECIPIENT=$(sed -n 's/^# public key: //p' "$R/root/lab.key")
sed "s/@RECIPIENT@/$RECIPIENT/" "$G/config.toml" >"$R/etc/simdondar-backup/config.toml"
chroot "$R" sh -c 'chgrp simdondar /etc/simdondar-backup/config.toml 2>/dev/null || true; chmod 0640 /etc/simdondar-backup/config.toml'
printf 'Lab-backup-2026\n' >"$R/etc/simdondar-backup/mysql.password"
chmod 0600 "$R/etc/simdondar-backup/mysql.password"
mkdir -p "$R/mnt/lab"
# mmdebstrap leaves no /etc/hosts; mariadb-install-db (the restore test) needs localhost.
printf '127.0.0.1\tlocalhost\n127.0.1.1\tlab\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$R/etc/hosts"
