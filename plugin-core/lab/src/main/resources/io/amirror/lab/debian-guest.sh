#!/bin/bash
# Builds the lab's Debian 12 server guest, as an installer would leave it on UEFI:
#   root.qcow2  GPT: a 100 MiB EFI system partition and an ext4 root (the guest's sda, on virtio-scsi)
#   data.qcow2  ext4 without a partition table, mounted at /srv/data, PostgreSQL's data and WAL (vda)
#   nvram.fd    the OVMF variable store holding the boot entry "debian" -> \EFI\debian\grubx64.efi
# There is no \EFI\BOOT\BOOTX64.EFI fallback once built: like an installed server, the guest boots only
# through its NVRAM entry, so a replica without its NVRAM stops in the UEFI shell.
#
# Usage: debian-guest.sh OUT_DIR MIRROR OVMF_VARS
# Phase "disks" ends with the images in OUT_DIR; the caller then boots them once (first boot: the
# guest registers its boot entry, removes the fallback, powers off).
set -euo pipefail

out=$1
mirror=$2
ovmf_vars=$3
work=$out/build
root=$work/root
# Fixed identifiers: the image is the same build after build, and fstab and grub name them.
ROOT_UUID=6f1c2a3e-7b4d-4e8a-9c51-0d2e3f4a5b61
DATA_UUID=3a9d8c7b-2e1f-4a6b-8c5d-9e0f1a2b3c4d
ESP_ID=A1B2C3D4
ESP_FSTAB=A1B2-C3D4

step() { echo "debian-guest: $* ($(date +%T))"; }

cleanup() {
    for m in dev/pts dev proc sys; do
        mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m"
    done
    return 0
}
trap cleanup EXIT

rm -rf "$work"
mkdir -p "$root"

step "debootstrap bookworm from $mirror"
debootstrap --variant=minbase --include=ca-certificates bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }

cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
EOF
# a mirror snapshot may be older than its Release file's Valid-Until
echo 'Acquire::Check-Valid-Until "false";' >"$root/etc/apt/apt.conf.d/90lab-snapshot"
# no documentation, manuals or translations: a smaller first copy for every test that replicates it
cat >"$root/etc/dpkg/dpkg.cfg.d/90lab-nodoc" <<'EOF2'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF2
# no service starts inside the build
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
# a /dev of the build's own, never the host's: the packages' scripts set device modes and groups
# (udev's runs systemd-tmpfiles on static-nodes-permissions.conf, which gives /dev/kvm to the
# chroot's kvm group id), and the host's libvirtd must keep its own
mount -t tmpfs -o mode=0755,size=1m lab-build-dev "$root/dev"
for node in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
    IFS=: read -r name major minor <<<"$node"
    mknod -m 0666 "$root/dev/$name" c "$major" "$minor"
done
mkdir "$root/dev/pts" "$root/dev/shm"
ln -s /proc/self/fd "$root/dev/fd"
mount --bind /dev/pts "$root/dev/pts"

# the cloud kernel (virtio, SCSI, ext4, vfat; no drivers for hardware a VM never has), as in Debian's
# cloud images: a third of the generic kernel's modules
# D-Bus and logind as an installed server has them: the power button (virsh shutdown --mode acpi) and
# the agent's guest-shutdown (shutdown -P +0) go through logind
step "packages: cloud kernel, systemd with logind, GRUB for EFI, guest agent, PostgreSQL, TPM tools"
chroot "$root" env DEBIAN_FRONTEND=noninteractive LC_ALL=C bash -euc '
    apt-get -q update
    apt-get -q install -y --no-install-recommends linux-image-cloud-amd64 systemd-sysv udev kmod dbus libpam-systemd \
        grub-efi-amd64-bin efibootmgr dosfstools e2fsprogs qemu-guest-agent postgresql procps tpm2-tools
' >"$work/packages.log" 2>&1 || { tail -30 "$work/packages.log" >&2; exit 1; }

step "configuration"
echo amirror-debian >"$root/etc/hostname"
cat >"$root/etc/fstab" <<EOF
UUID=$ROOT_UUID  /          ext4  errors=remount-ro  0 1
UUID=$ESP_FSTAB  /boot/efi  vfat  umask=0077         0 1
UUID=$DATA_UUID  /srv/data  ext4  defaults           0 2
EOF
mkdir -p "$root/boot/efi" "$root/srv/data"
# PostgreSQL's cluster (data and WAL) on the data disk; its configuration stays on the root disk
chroot "$root" env LC_ALL=C bash -euc '
    pg_dropcluster 15 main
    install -d -o postgres -g postgres -m 0700 /srv/data/pg
    pg_createcluster -d /srv/data/pg 15 main >/dev/null
    # checkpoints often enough that a crash recovery stays short
    echo "checkpoint_timeout = 60s" >>/etc/postgresql/15/main/conf.d/lab.conf
    # the pgbench database made here, at native speed, rather than under TCG at the first boot
    pg_ctlcluster 15 main start
    runuser -u postgres -- createdb pgbench
    runuser -u postgres -- pgbench -i -q -s 5 pgbench
    pg_ctlcluster 15 main stop
    systemctl enable postgresql@15-main.service qemu-guest-agent.service >/dev/null 2>&1 || true
    passwd -d root >/dev/null
'
# The first boot: register the NVRAM entry, drop the fallback loader.
cat >"$root/usr/local/sbin/lab-first-boot" <<'EOF'
#!/bin/bash
set -eux
# the lab waits for the guest to stop: stop on a failure too, saying so
trap 'echo "lab-first-boot: failed at line $LINENO"; sync; systemctl --no-block poweroff' ERR
efibootmgr -c -d /dev/sda -p 1 -L debian -l '\EFI\debian\grubx64.efi'
rm -rf /boot/efi/EFI/BOOT
rm /etc/lab-first-boot
sync
echo "lab-first-boot: done"
systemctl --no-block poweroff
EOF
chmod 0755 "$root/usr/local/sbin/lab-first-boot"
touch "$root/etc/lab-first-boot"
cat >"$root/etc/systemd/system/lab-first-boot.service" <<'EOF'
[Unit]
Description=Lab image: first boot
ConditionPathExists=/etc/lab-first-boot
After=local-fs.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/lab-first-boot
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
EOF
ln -sf /etc/systemd/system/lab-first-boot.service "$root/etc/systemd/system/multi-user.target.wants/lab-first-boot.service"
cat >"$root/boot/grub-early.cfg" <<EOF
search --no-floppy --fs-uuid --set=root $ROOT_UUID
set prefix=(\$root)/boot/grub
configfile (\$root)/boot/grub/grub.cfg
EOF
mkdir -p "$root/boot/grub"
cat >"$root/boot/grub/grub.cfg" <<EOF
set timeout=0
serial --unit=0 --speed=115200
terminal_output serial
search --no-floppy --fs-uuid --set=root $ROOT_UUID
linux /vmlinuz root=UUID=$ROOT_UUID ro console=ttyS0,115200 net.ifnames=0
initrd /initrd.img
boot
EOF
chroot "$root" grub-mkimage -O x86_64-efi -o /boot/grubx64.efi -p /boot/grub -c /boot/grub-early.cfg \
    part_gpt fat ext2 search search_fs_uuid normal linux configfile echo serial terminal efi_gop all_video
rm -f "$root/usr/sbin/policy-rc.d" "$root/etc/resolv.conf"
# what debootstrap installed before the exclusions above
find "$root/usr/share/doc" -type f ! -name copyright -delete
rm -rf "$root/usr/share/man" "$root/usr/share/info" "$root/usr/share/locale" "$root/var/lib/apt/lists"
mkdir -p "$root/var/lib/apt/lists/partial" "$root/usr/share/locale"
chroot "$root" apt-get -q clean
cleanup

step "disks"
mv "$root/boot/grubx64.efi" "$work/grubx64.efi"
mv "$root/srv/data" "$work/data-tree"
mkdir -m 0755 "$root/srv/data"
# no metadata_csum_seed or orphan_file: GRUB 2.06 cannot read an ext4 with them
ext4opts=(-q -F -O ^metadata_csum_seed,^orphan_file -E lazy_itable_init=0,lazy_journal_init=0,nodiscard)
mkfs.ext4 "${ext4opts[@]}" -U "$ROOT_UUID" -L root -d "$root" "$work/rootfs.img" 3072M
mkfs.ext4 "${ext4opts[@]}" -U "$DATA_UUID" -L data -d "$work/data-tree" "$work/data.raw" 1024M
mkfs.vfat -F 32 -i "$ESP_ID" -n EFI -C "$work/esp.img" 102400 >/dev/null
mmd -i "$work/esp.img" ::/EFI ::/EFI/debian ::/EFI/BOOT
mcopy -i "$work/esp.img" "$work/grubx64.efi" ::/EFI/debian/grubx64.efi
mcopy -i "$work/esp.img" "$work/grubx64.efi" ::/EFI/BOOT/BOOTX64.EFI
# 1 MiB GPT, 100 MiB ESP, 3 GiB root, 1 MiB for the backup GPT
truncate -s $(((1 + 100 + 3072 + 1) * 1024 * 1024)) "$work/root.raw"
sfdisk -q "$work/root.raw" <<EOF
label: gpt
start=2048, size=204800, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=EFI
start=206848, size=6291456, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=root
EOF
dd if="$work/esp.img" of="$work/root.raw" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$work/rootfs.img" of="$work/root.raw" bs=1M seek=101 conv=notrunc,sparse status=none
qemu-img convert -O qcow2 -o compat=1.1 "$work/root.raw" "$out/root.qcow2"
qemu-img convert -O qcow2 -o compat=1.1 "$work/data.raw" "$out/data.qcow2"
cp "$ovmf_vars" "$out/nvram.fd"
rm -rf "$work"
step "disks ready"
