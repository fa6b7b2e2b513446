#!/bin/sh
# Wall time of `sockspec matrix` on the host and two Debian kernels under QEMU.
#   bench/matrix_wall_time.sh          warm: kernels and initramfs from the cache (a second run)
#   bench/matrix_wall_time.sh --cold   cold: a fresh cache, so download, unpack and depmod count
# Extra targets can follow: bench/matrix_wall_time.sh --cold --target gvisor
set -eu
cache_opt=""
if [ "${1:-}" = "--cold" ]; then
    shift
    cold=$(mktemp -d)
    trap 'rm -rf "$cold"' EXIT
    cache_opt="--cache-dir $cold"
fi
out=${SOCKSPEC_BENCH_OUT:-reports/bench-matrix}
start=$(date +%s.%N)
status=0
python3 -m harness.cli matrix --target debian:6.1 --target debian:6.12 --target host \
    $cache_opt -o "$out" "$@" || status=$?
end=$(date +%s.%N)
echo "matrix wall time: $(awk "BEGIN { printf \"%.1f\", $end - $start }") s (exit $status, $(nproc) cores${cache_opt:+, cold cache})"
exit $status
