#!/bin/sh
# The umm command: --help, --version, bad usage, demo and a quick bench.
umm=${UMM:-./umm}
n=0
fail=0
t() {
	n=$((n + 1))
	desc=$1
	shift
	if "$@" >/dev/null 2>&1; then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc"
		fail=1
	fi
}
out=$(mktemp)
t "umm --help exits 0" "$umm" --help
t "umm --help names the demo" sh -c "'$umm' --help | grep -q demo"
t "umm --version prints the version" sh -c "'$umm' --version | grep -qE '^umm [0-9]+\.[0-9]+'"
t "umm with no command exits 2" sh -c "'$umm'; test \$? -eq 2"
t "umm bogus exits 2" sh -c "'$umm' bogus; test \$? -eq 2"
t "umm demo runs" sh -c "'$umm' demo > '$out'"
t "demo: write faults allocate, with fault-around" grep -q "pages mapped around" "$out"
t "demo: the guest gets SEGV_ACCERR after mprotect" grep -q "SIGSEGV (si_code SEGV_ACCERR)" "$out"
t "demo: SIGBUS past the end of a truncated file" grep -q "SIGBUS (si_code BUS_ADRERR)" "$out"
t "demo: maps show the heap" grep -q "\[heap\]" "$out"
t "demo: every frame free at the end" sh -c "grep 'After the mm is gone' '$out' | grep -qE ': ([0-9]+) of \1 frames free'"
t "umm bench fault --quick runs" sh -c "'$umm' bench fault --quick > '$out'"
t "bench fault: page_fault1 against the host, with strategies" sh -c "grep -q '^page_fault1 ' '$out' && grep -q '^page_fault1:fault-around=off' '$out' && grep -q '^fault_isolated ' '$out'"
t "bench: reports the goals" grep -q "page_fault1_ratio" "$out"
t "umm bench nonlinear --quick runs" sh -c "'$umm' bench nonlinear --quick > '$out'"
t "bench nonlinear: against the host's remap_file_pages and mmap" sh -c "grep -q '^nonlinear ' '$out' && grep -q '^nonlinear:host=mmap' '$out' && grep -q 'nonlinear_rate' '$out'"
t "umm bench --list names every scenario" sh -c "'$umm' bench --list > '$out' && for s in page_fault1 page_fault2 page_fault3 mmap1 mmap2 tlb_remap tlb_cycle tlb_mprotect fork_heavy scattered nonlinear; do grep -q \"^  \$s \" '$out' || exit 1; done"
t "umm bench --help exits 0" "$umm" bench --help
t "umm bench bogus exits 2" sh -c "'$umm' bench bogus; test \$? -eq 2"
t "umm bench --reps 0 exits 2" sh -c "'$umm' bench --reps 0; test \$? -eq 2"
t "umm bench --merge maybe exits 2" sh -c "'$umm' bench --merge maybe; test \$? -eq 2"
t "umm bench --plot without gnuplot: exit 1, says so" sh -c "PATH=/nonexistent '$umm' bench --quick --plot '$out.png' mmap1 2>&1 >/dev/null | grep -q 'needs gnuplot'; test \$? -eq 0 && ! test -e '$out.png'"
if command -v gnuplot >/dev/null 2>&1; then
	t "umm bench --plot draws a PNG with gnuplot" sh -c "'$umm' bench --quick --plot '$out.png' mmap1 tlb_cycle > /dev/null && head -c 8 '$out.png' | od -c | grep -q 'P   N   G'"
	rm -f "$out.png"
fi
t "umm run --help exits 0 and names --root" sh -c "'$umm' run --help | grep -q -- --root"
t "umm run without a program exits 2" sh -c "'$umm' run; test \$? -eq 2"
t "umm run --mem 1 exits 2" sh -c "'$umm' run --mem 1 /bin/true; test \$? -eq 2"
t "umm run of a missing program exits 127" sh -c "'$umm' run /nonexistent/prog 2>/dev/null; test \$? -eq 127"
hello=${GUEST_DIR:+$GUEST_DIR/hello}
if [ -n "$hello" ] && [ -x "$hello" ]; then
	t "umm run --trace: each syscall with its result, each fault" sh -c "'$umm' run --trace '$hello' 2> '$out' >/dev/null && grep -Eq '^\[1\] (write|writev)\(0x1, .*\) = 0x' '$out' && grep -Eq '^\[1\] fault 0x[0-9a-f]+ (read|write|exec)' '$out' && grep -q '^\[1\] exit_group(0)' '$out'"
	t "umm run --stats: faults, host figures, syscalls by number" sh -c "'$umm' run --stats '$hello' 2> '$out' >/dev/null && grep -q 'guest faults:' '$out' && grep -q 'round trips to stubs' '$out' && grep -Eq '^ +231 exit_group +1$' '$out' && grep -q '0 in use at exit' '$out'"
else
	n=$((n + 1)); echo "ok $n # SKIP umm run --trace: no guest programs (GUEST_DIR)"
	n=$((n + 1)); echo "ok $n # SKIP umm run --stats: no guest programs (GUEST_DIR)"
fi
t "umm bench run --quick: guest programs against the host" sh -c "'$umm' bench run --quick > '$out' && for s in run_syscall run_fault run_fork run_forkexec; do grep -q \"^\$s \" '$out' || exit 1; done"
rm -f "$out"
echo "1..$n"
exit $fail
