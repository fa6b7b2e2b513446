#!/run/sockspec/busybox sh
# The guest's modprobe, as the kernel calls it for a module on demand: modprobe -q -- NAME.
# Resolves NAME through the alias file, then loads the dependencies (modules.dep) and the
# module from the guest kernel's tree, which the host root filesystem holds.
export PATH=/run/sockspec
M=$(cat /run/sockspec/modules-dir)
for a in "$@"; do name="$a"; done
# the kernel asks again for every socket() of an absent family: answer those from a list
absent=/run/sockspec/absent
busybox grep -qxF -- "$name" "$absent" 2>/dev/null && exit 1
# alias patterns are shell globs: turned into regular expressions, matched in one awk pass
aliases="$M/modules.alias.sockspec"
[ -f "$aliases" ] || aliases="$M/modules.alias"
mod=$(busybox awk -v n="$name" '{ p = $2; gsub(/\./, "\\.", p); gsub(/\*/, ".*", p);
    gsub(/\?/, ".", p); if (n ~ ("^" p "$")) { print $3; exit } }' "$aliases")
[ -n "$mod" ] || mod="$name"
mod=$(echo "$mod" | busybox tr - _)
line=$(busybox grep -E "(^|/)($mod|$(echo "$mod" | busybox tr _ -))\.ko(\.[a-z]+)?:" "$M/modules.dep" | busybox head -n 1)
if [ -z "$line" ]; then
    echo "$name" >> "$absent"
    exit 1
fi
# modules.dep lists the module, then its dependencies deepest last: load in reverse
ko=/run/sockspec/m.$$.ko      # requests can come in parallel
for f in $(echo "$line" | busybox tr -d : | busybox awk '{ for (i = NF; i > 0; i--) print $i }'); do
    case "$f" in
        *.xz) busybox xz -dc "$M/$f" > $ko ;;
        *.gz) busybox gzip -dc "$M/$f" > $ko ;;
        *.zst) busybox cat "$M/$f" > $ko ;;    # the kernel decompresses it if it can
        *) busybox cp "$M/$f" $ko ;;
    esac
    busybox insmod $ko 2>/dev/null    # EEXIST for one already loaded
done
busybox rm -f $ko
exit 0
