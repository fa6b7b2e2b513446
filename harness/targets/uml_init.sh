#!/bin/busybox sh
# sockspec init for User-Mode Linux (PID 1 inside UML; the host's busybox, via hostfs).
#
# The root is the host's / (hostfs, read-only); a tmpfs overlay on top becomes the suite's
# root, and the run directory ($SOCKSPEC_RUN_DIR, from the kernel command line) is mounted
# writable over hostfs at its host path. Same protocol as guest_init.sh: "sockspec-init:"
# lines on the console, guest/command.sh runs the suite, guest/exit-status gets its code.

# mount /proc by full path first: until then the shell's applets would re-exec /proc/self/exe,
# which hostfs resolves on the host, to the UML kernel binary itself
/bin/busybox mount -t proc proc /proc
export PATH=/bin
RUN_DIR="$SOCKSPEC_RUN_DIR"
MODULES_DIR="$SOCKSPEC_MODULES_DIR"

log() { echo "sockspec-init: $*"; }
fail() { log "error: $*"; sync; poweroff -f; sleep 10; }

log "boot $(uname -r)"
# read before the tmpfs below can hide it (a run directory under /run)
modprobe_script=$(cat "$SOCKSPEC_MODPROBE") || fail "cannot read $SOCKSPEC_MODPROBE"
mount -t sysfs sysfs /sys
# the workspace of this init; /tmp is left alone, as the run directory or a venv may be there
mount -t tmpfs -o mode=0755 sockspec-run /run || fail "tmpfs"
grep -q overlay /proc/filesystems || insmod "$MODULES_DIR/kernel/fs/overlayfs/overlay.ko" \
    || fail "cannot load overlay.ko from $MODULES_DIR"
mkdir -p /run/rw/upper /run/rw/work /run/root
mount -t overlay -o lowerdir=/,upperdir=/run/rw/upper,workdir=/run/rw/work overlay /run/root \
    || fail "overlay mount failed"
R=/run/root
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
# the running security modules (/sys/kernel/security/lsm), a marker the profile reads
mount -t securityfs securityfs $R/sys/kernel/security 2>/dev/null
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts $R/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $R/dev/shm
mkdir -p "$R$RUN_DIR"
mount -t hostfs -o "$RUN_DIR" sockspec-results "$R$RUN_DIR" || fail "cannot mount $RUN_DIR (hostfs)"

for root in "" "$R"; do
    mkdir -p "$root/run/sockspec"
    cp /bin/busybox "$root/run/sockspec/busybox"
    printf '%s\n' "$modprobe_script" > "$root/run/sockspec/modprobe"
    chmod 755 "$root/run/sockspec/modprobe"
    echo "$MODULES_DIR" > "$root/run/sockspec/modules-dir"
done
mkdir -p "$R/lib/modules/$(uname -r)"
mount --bind "$MODULES_DIR" "$R/lib/modules/$(uname -r)"
echo /run/sockspec/modprobe > /proc/sys/kernel/modprobe

ip link set lo up
hostname sockspec-uml
log "suite"
chroot $R /bin/sh "$RUN_DIR/guest/command.sh" < /dev/null
echo $? > "$R$RUN_DIR/guest/exit-status"
log "collect"
sync
umount "$R$RUN_DIR"
log "poweroff"
poweroff -f
sleep 10
