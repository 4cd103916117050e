# Shared by the unikernel bench scripts (sourced): one timed QEMU process and medians of raw lines.
# Expects $qemu and $out.

now() { date +%s.%N; }

# timed_qemu NAME ARGS...: runs QEMU to its exit (at most 300 s), console in $out/NAME.log; sets
# $seconds (start to exit) and $status (QEMU's exit code).
timed_qemu() {
    timed_name=$1; shift
    timed_start=$(now)
    status=0
    timeout 300 "$qemu" "$@" > "$out/$timed_name.log" 2>&1 || status=$?
    seconds=$(echo "$(now) - $timed_start" | bc)
}

# median_of RAW NAME COLUMN FORMAT: median of one column over the raw lines starting with NAME.
median_of() {
    grep "^$2 " "$1" | awk -v c="$3" '{print $c}' | sort -n | awk -v f="$4" '{a[NR]=$1} END {if (NR == 0) print "n/a"; else if (NR % 2) printf f, a[(NR+1)/2]; else printf f, (a[NR/2]+a[NR/2+1])/2}'
}
