#!/bin/busybox sh
# /init of the amirror lab guest: a busybox initramfs that loads the virtio and ext4 modules and then
# serves shell scripts sent over the first serial port.
#
# Console protocol (one request at a time, host speaks first after READY):
#   guest -> host   "@@AMX-READY <kernel release>"
#   host  -> guest  "<id> <script, base64>"           one line
#   guest -> host   "@@AMX-BEGIN <id>", the script's stdout+stderr in base64 lines, "@@AMX-END <id> <exit status>"
# The port is put in raw mode without echo, so nothing the host sends comes back, and kernel console
# messages are silenced (dmesg -n 1) so they cannot land inside a reply.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
dmesg -n 1
for m in @MODULES@; do
  insmod "/lib/modules/$m.ko" || echo "@@AMX-WARN insmod $m failed"
done
mkdir -p /mnt /data /tmp
exec </dev/ttyS0 >/dev/ttyS0 2>&1
stty raw -echo
echo "@@AMX-READY $(uname -r)"
while read -r id payload; do
  [ -n "$id" ] || continue
  echo "$payload" | base64 -d > /tmp/.amx-cmd
  sh /tmp/.amx-cmd > /tmp/.amx-out 2>&1 < /dev/null
  rc=$?
  echo "@@AMX-BEGIN $id"
  base64 /tmp/.amx-out
  echo "@@AMX-END $id $rc"
done
poweroff -f
