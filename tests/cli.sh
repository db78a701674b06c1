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
t "bench: reports ratios against the host" grep -q "first touch, sequential" "$out"
t "umm bench nonlinear --quick runs" sh -c "'$umm' bench nonlinear --quick > '$out'"
t "bench nonlinear: reports the host's remap_file_pages" grep -q "host remap_file_pages" "$out"
t "umm bench bogus exits 2" sh -c "'$umm' bench bogus; test \$? -eq 2"
rm -f "$out"
echo "1..$n"
exit $fail
