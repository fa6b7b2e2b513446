#!/bin/sh
# sockspec guest init (PID 1 of a QEMU guest, from the busybox initramfs).
#
# The host's root filesystem (9p tag "hostroot", read-only) becomes the guest's root under a
# tmpfs overlay, so the host's interpreter and virtualenv run unchanged at the same paths. The
# run directory (9p tag "results", writable) is mounted at its host path. It holds
# guest/env (RUN_DIR=..., MODULES_DIR=...) and guest/command.sh, the suite command; the init
# runs it as root in the new root, writes guest/exit-status and powers off. Lines starting
# with "sockspec-init:" are read by the host for progress and errors.

export PATH=/bin
/bin/busybox --install -s /bin

log() { echo "sockspec-init: $*"; }
fail() { log "error: $*"; sync; poweroff -f; sleep 10; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
log "boot $(uname -r)"
if grep -q sockspec.probe /proc/cmdline; then    # the host asks whether this guest boots at all
    log "probe ok"; poweroff -f; sleep 10
fi

for m in $(cat /etc/modules); do
    insmod "/modules/$m" || fail "insmod $m"
done

P9="trans=virtio,version=9p2000.L,msize=524288"
# the host tree does not change during a run: cache it in the guest (cache=loose)
mount -t 9p -o "$P9,ro,cache=loose" hostroot /mnt/host || fail "mount of the host root (9p) failed"
mount -t tmpfs -o mode=0755 overlay-rw /mnt/rw || fail "tmpfs"
mkdir -p /mnt/rw/upper /mnt/rw/work
mount -t overlay -o lowerdir=/mnt/host,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work overlay /mnt/root \
    || fail "overlay mount failed"
mount -t 9p -o "$P9" results /mnt/results || fail "mount of the results directory (9p) failed"
[ -f /mnt/results/guest/env ] || fail "no guest/env in the results directory"
. /mnt/results/guest/env

R=/mnt/root
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
# the running security modules (/sys/kernel/security/lsm), a marker the profile reads
mount -t securityfs securityfs $R/sys/kernel/security 2>/dev/null
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts $R/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $R/dev/shm
mkdir -p "$R$RUN_DIR"
mount --move /mnt/results "$R$RUN_DIR" || fail "cannot mount the results directory at $RUN_DIR"

# Modules load on demand as on an installed system (a socket family, a TCP ULP): the kernel
# calls this modprobe with the module tree of the guest kernel, reached through the host root.
# The same path exists in the initramfs and in the new root, whichever the helper runs in.
if [ -n "$MODULES_DIR" ] && [ -d "$R$MODULES_DIR" ]; then
    for root in "" "$R"; do
        mkdir -p "$root/run/sockspec"
        cp /bin/busybox "$root/run/sockspec/busybox"
        cp /bin/sockspec-modprobe "$root/run/sockspec/modprobe"
    done
    echo "$R$MODULES_DIR" > /run/sockspec/modules-dir
    echo "$MODULES_DIR" > "$R/run/sockspec/modules-dir"
    mkdir -p "$R/lib/modules/$(uname -r)"
    mount --bind "$R$MODULES_DIR" "$R/lib/modules/$(uname -r)"
    echo /run/sockspec/modprobe > /proc/sys/kernel/modprobe
fi

ip link set lo up
hostname sockspec-guest
log "suite"
chroot $R /bin/sh "$RUN_DIR/guest/command.sh" < /dev/null
echo $? > "$R$RUN_DIR/guest/exit-status"
log "collect"
sync
umount "$R$RUN_DIR"
log "poweroff"
poweroff -f
sleep 10
