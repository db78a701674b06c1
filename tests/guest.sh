#!/bin/sh
# Static guest programs (tests/guest/*.c) and Debian's busybox-static under
# `umm run --root ROOT`, each first run natively: the native run proves
# the program right (and gives the output to expect), the umm run must
# then give the same stdout and the same exit status (128+signal where the
# native run died of a signal). Until `umm run` exists every umm-side case
# is a SKIP, never a pass.
#
# Every run has a timeout and a session of its own; at the end no process
# of any of those sessions may be left.
umm=${UMM:-./umm}
gdir=${GUEST_DIR:-./tests/guest}
guest_cc=${GUEST_CC:-}
n=0
umm_opts=""
fail=0

ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}
not_ok() {
	n=$((n + 1))
	echo "not ok $n - $1"
	fail=1
}
# A umm-side case the kernel cannot pass yet, for a reason named in $todo:
# TAP's TODO, so it fails without failing the test, and passes as XPASS,
# which does fail it: then the TODO goes.
todo=""
ok_umm() {
	if [ -n "$todo" ]; then
		ok "$1 # TODO $todo"
	else
		ok "$1"
	fi
}
not_ok_umm() {
	if [ -n "$todo" ]; then
		n=$((n + 1))
		echo "not ok $n - $1 # TODO $todo"
	else
		not_ok "$1"
	fi
}
skip() {
	n=$((n + 1))
	echo "ok $n - $1 # SKIP $2"
}
# diag FILE: up to 40 lines of FILE as TAP diagnostics.
diag() {
	[ -s "$1" ] && head -n 40 "$1" | sed 's/^/#   /'
}

ulimit -c 0 2>/dev/null
tmp=$(mktemp -d "${TMPDIR:-/tmp}/umm-guest.XXXXXX") || exit 99
root=$tmp/root
sleepers=""
cleanup() {
	for p in $sleepers; do
		kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# run.pl OUT ERR SIDS CMD...: CMD in a session of its own (its sid goes to
# SIDS), stdin /dev/null, every descriptor past 2 closed; prints "exit N"
# or "signal N" for how CMD ended.
cat > "$tmp/run.pl" <<'EOF'
use strict;
use POSIX ();
my ($out, $err, $sids) = splice(@ARGV, 0, 3);
my $pid = fork() // die "fork: $!";
if (!$pid) {
	POSIX::setsid();
	open(STDIN, '<', '/dev/null') or die;
	open(STDOUT, '>', $out) or die;
	open(STDERR, '>', $err) or die;
	POSIX::close($_) for 3 .. 1023;
	exec { $ARGV[0] } @ARGV or POSIX::_exit(127);
}
open(my $s, '>>', $sids) or die;
print $s "$pid\n";
close($s);
waitpid($pid, 0);
print(($? & 127) ? "signal " . ($? & 127) . "\n" : "exit " . ($? >> 8) . "\n");
EOF

# The processes still in the sessions listed in SIDS, one pid a line.
cat > "$tmp/left.pl" <<'EOF'
use strict;
my %sid;
open(my $s, '<', $ARGV[0]) or exit 0;
chomp(my @sids = <$s>);
$sid{$_} = 1 for @sids;
for my $stat (glob('/proc/[0-9]*/stat')) {
	open(my $f, '<', $stat) or next;
	my $line = <$f> // next;
	$line =~ /\) \S+ \d+ \d+ (\d+)/ or next;
	my ($pid) = $stat =~ m{/proc/(\d+)/};
	print "$pid\n" if $sid{$1} && $pid != $$;
}
EOF

# run WHERE PROG ARGS...: PROG (a host path) natively or under umm run
# (with --stats, for check_frames), timeout 60; output in $tmp/out.WHERE
# and $tmp/err.WHERE, "exit N" or "signal N" in $how.
run() {
	where=$1
	shift
	if [ "$where" = umm ]; then
		set -- "$umm" run --stats $umm_opts --root "$root" "$@"
	fi
	how=$(perl "$tmp/run.pl" "$tmp/out.$where" "$tmp/err.$where" \
		"$tmp/sids" timeout -k 5 60 "$@")
	[ -n "$how" ] || how="perl failed"
}

# What a native ending becomes under umm run: its exit status, or
# 128+signal for a signal.
umm_want() {
	case $1 in
	"signal "*) echo "exit $((128 + ${1#signal }))" ;;
	*) echo "$1" ;;
	esac
}

# Is `umm run` there? A missing command is "unknown command"; anything else
# is a run command to test, however it answers --help.
umm_run=no
if "$umm" run --help > "$tmp/help" 2>&1; then
	umm_run=yes
elif ! grep -qi "unknown command" "$tmp/help"; then
	umm_run=yes
fi
no_umm="umm run not built yet"

# check_frames NAME: the last umm run ended with every guest frame free
# (--stats: "frames: N in use at most, 0 in use at exit"), whatever the
# guest did; the count of unknown syscalls, if any, as a diagnostic.
check_frames() {
	frames=$(grep '^  frames: ' "$tmp/err.umm" | tail -n 1)
	case $frames in
	*", 0 in use at exit")
		ok "$1: under umm run, every frame free at exit" ;;
	*)
		not_ok "$1: under umm run, every frame free at exit (${frames:-no frames line from --stats})" ;;
	esac
	unknown=$(sed -n 's/^  syscalls: .*(\([0-9]*\) unknown.*/\1/p' "$tmp/err.umm")
	if [ -n "$unknown" ] && [ "$unknown" != 0 ]; then
		echo "# $1: $unknown unknown syscalls (ENOSYS)"
	fi
}

# case_native NAME WANT PROG ARGS...: the native run ends as WANT, and
# prints no FAIL line.
case_native() {
	name=$1 want=$2
	shift 2
	run native "$@"
	if [ "$how" = "$want" ] && ! grep -q ': FAIL' "$tmp/out.native"; then
		ok "$name: native run ($want)"
		return 0
	fi
	not_ok "$name: native run ($want, got $how)"
	diag "$tmp/out.native"
	diag "$tmp/err.native"
	return 1
}

# case_umm NAME WANT FILTER PROG ARGS...: under umm run, the exit status
# is umm_want(WANT), and stdout equals the native run's (both through the
# sed script FILTER; the native run's paths inside $root read as the
# guest's).
case_umm() {
	name=$1 want=$(umm_want "$2") filter=$3
	shift 3
	if [ "$umm_run" = no ]; then
		skip "$name: under umm run ($want)" "$no_umm"
		skip "$name: under umm run, stdout as native" "$no_umm"
		skip "$name: under umm run, every frame free at exit" "$no_umm"
		return 0
	fi
	run umm "$@"
	check_frames "$name"
	if [ "$how" = "$want" ]; then
		ok_umm "$name: under umm run ($want)"
	else
		not_ok_umm "$name: under umm run ($want, got $how)"
		diag "$tmp/out.umm"
		diag "$tmp/err.umm"
	fi
	sed -e "s|$root||g" -e "$filter" "$tmp/out.native" > "$tmp/want"
	sed -e "$filter" "$tmp/out.umm" > "$tmp/got"
	if cmp -s "$tmp/want" "$tmp/got"; then
		ok_umm "$name: under umm run, stdout as native"
	else
		not_ok_umm "$name: under umm run, stdout as native"
		diff "$tmp/want" "$tmp/got" > "$tmp/diff"
		diag "$tmp/diff"
		diag "$tmp/err.umm"
	fi
}

# ---- the guest root ----
mkdir -p "$root/bin" "$root/data" || exit 99
progs="hello memtest forkcow execchain segv segvparent segvhandler hostile
	stubjump readfile pipes sigterm vforkexec fpstate fpbad sigwait
	forklimit sigrestart ident rofs memchurn execfail"
have_progs=yes
for p in $progs; do
	if [ -x "$gdir/$p" ]; then
		cp "$gdir/$p" "$root/bin/$p" || exit 99
	else
		have_progs=no
	fi
done
printf 'hello from the guest root' > "$root/data/hello.txt"
seq 1 40000 > "$root/data/big.txt"	# 229 KiB: many pages, several reads
printf 'x' > "$root/data/one.txt"
printf 'not a program\n' > "$root/data/notaprog"	# executable, no ELF
chmod 755 "$root/data/notaprog"

if [ "$umm_run" = no ]; then
	echo "# $no_umm: '$umm run --help' says: $(head -n 1 "$tmp/help")"
fi

# ---- the guest programs ----
if [ "$have_progs" = no ]; then
	skip "guest programs" "not built (no static compiler for them: configure)"
else
	case $guest_cc in
	*musl-gcc*) echo "# guest programs built with $guest_cc" ;;
	*) echo "# guest programs built with ${guest_cc:-?} -static (no musl-gcc)" ;;
	esac
	b=$root/bin

	case_native hello "exit 0" "$b/hello" one "two words"
	grep -q '^hello, world$' "$tmp/out.native" &&
		grep -q '^argc=3 ' "$tmp/out.native" &&
		ok "hello: says hello, world and argc=3" ||
		not_ok "hello: says hello, world and argc=3"
	case_umm hello "exit 0" 's/ envc=.*//' "$b/hello" one "two words"
	[ "$umm_run" = yes ] && echo "# hello under umm run: $(grep '^argc' "$tmp/out.umm")"

	for p in memtest forkcow segvparent segvhandler sigterm sigwait sigrestart ident; do
		case_native "$p" "exit 0" "$b/$p"
		case_umm "$p" "exit 0" "" "$b/$p"
	done
	case_native "fpstate regs" "exit 0" "$b/fpstate" regs
	case_umm "fpstate regs" "exit 0" "" "$b/fpstate" regs
	for m in signal fork; do
		case_native "fpstate $m" "exit 0" "$b/fpstate" $m
		case_umm "fpstate $m" "exit 0" "" "$b/fpstate" $m
	done
	# A handler that spoils its frame's FPU state: the children die or go
	# on as Linux has them, umm survives.
	case_native fpbad "exit 0" "$b/fpbad"
	case_umm fpbad "exit 0" "" "$b/fpbad"

	# 24 MiB written a process in 64 MiB of guest memory: a process's
	# frames must be free when wait4 or execve returns.
	umm_opts="--mem 64"
	case_native "memchurn fork" "exit 0" "$b/memchurn" fork 80 24
	case_umm "memchurn fork" "exit 0" "" "$b/memchurn" fork 80 24
	case_native "memchurn exec" "exit 0" "$b/memchurn" exec 16 24 \
		"$b/memchurn"
	case_umm "memchurn exec" "exit 0" "" "$b/memchurn" exec 16 24 \
		/bin/memchurn
	umm_opts=""
	case_native execfail "exit 0" "$b/execfail" "$root/data/notaprog" \
		"$root/data"
	case_umm execfail "exit 0" "" "$b/execfail" /data/notaprog /data

	case_native vforkexec "exit 0" "$b/vforkexec"
	case_umm vforkexec "exit 0" "" "$b/vforkexec"
	case_native "vforkexec hello" "exit 0" "$b/vforkexec" "$b/hello"
	case_umm "vforkexec hello" "exit 0" "" "$b/vforkexec" /bin/hello
	case_native pipes "exit 0" "$b/pipes"
	case_umm pipes "exit 0" "" "$b/pipes"

	case_native "execchain 5" "exit 0" "$b/execchain" 5 "$b/execchain"
	case_umm "execchain 5" "exit 0" "" "$b/execchain" 5 /bin/execchain

	case_native segv "signal 11" "$b/segv"
	case_umm segv "signal 11" "" "$b/segv"

	expected=$(cat "$root/data/hello.txt")
	case_native "readfile hello.txt" "exit 0" "$b/readfile" \
		"$root/data/hello.txt" "$expected"
	case_umm "readfile hello.txt" "exit 0" "" "$b/readfile" \
		/data/hello.txt "$expected"
	case_native "readfile big.txt" "exit 0" "$b/readfile" "$root/data/big.txt"
	cmp -s "$tmp/out.native" "$root/data/big.txt" &&
		ok "readfile big.txt: native output is the file" ||
		not_ok "readfile big.txt: native output is the file"
	case_umm "readfile big.txt" "exit 0" "" "$b/readfile" /data/big.txt
	case_native "readfile one.txt" "exit 0" "$b/readfile" "$root/data/one.txt" x
	case_umm "readfile one.txt" "exit 0" "" "$b/readfile" /data/one.txt x

	# hostile: natively it kills its victim; under umm the victim lives.
	sleep 300 > /dev/null 2>&1 &
	v1=$!
	sleep 300 > /dev/null 2>&1 &
	v2=$!
	sleepers="$v1 $v2"
	case_native "hostile host" "exit 0" "$b/hostile" host "$v1"
	sleep 0.2
	kill -0 "$v1" 2>/dev/null &&
		not_ok "hostile host: its kill reached the host process" ||
		ok "hostile host: its kill reached the host process"
	if [ "$umm_run" = no ]; then
		skip "hostile: under umm run (exit 0)" "$no_umm"
		skip "hostile: the host process it tried to kill lives" "$no_umm"
		skip "hostile: under umm run, every frame free at exit" "$no_umm"
	else
		run umm "$b/hostile" guest "$v2"
		check_frames hostile
		if [ "$how" = "exit 0" ]; then
			ok_umm "hostile: under umm run (exit 0)"
		else
			not_ok_umm "hostile: under umm run (exit 0, got $how)"
			diag "$tmp/out.umm"
			diag "$tmp/err.umm"
		fi
		sleep 0.2
		kill -0 "$v2" 2>/dev/null &&
			ok "hostile: the host process it tried to kill lives" ||
			not_ok "hostile: the host process it tried to kill lives"
	fi

	# rofs: the calls that would write the read-only root, under umm run
	# only (natively the test's root is writable).
	if [ "$umm_run" = no ]; then
		skip "rofs: under umm run (exit 0)" "$no_umm"
		skip "rofs: under umm run, every frame free at exit" "$no_umm"
	else
		run umm "$b/rofs"
		check_frames rofs
		if [ "$how" = "exit 0" ]; then
			ok_umm "rofs: under umm run, a read-only root's errnos (exit 0)"
		else
			not_ok_umm "rofs: under umm run (exit 0, got $how)"
			diag "$tmp/out.umm"
			diag "$tmp/err.umm"
		fi
	fi

	# forklimit: a bounded fork bomb; umm's task limit answers EAGAIN.
	# Under umm run only (the host's own limit may be far away).
	if [ "$umm_run" = no ]; then
		skip "forklimit: under umm run (exit 0)" "$no_umm"
		skip "forklimit: under umm run, every frame free at exit" "$no_umm"
	else
		run umm "$b/forklimit" 2000
		check_frames forklimit
		if [ "$how" = "exit 0" ]; then
			ok_umm "forklimit: under umm run (exit 0)"
		else
			not_ok_umm "forklimit: under umm run (exit 0, got $how)"
			diag "$tmp/out.umm"
			diag "$tmp/err.umm"
		fi
	fi

	# stubjump: killed by some signal under umm, reported as 128+signal;
	# umm itself is not killed.
	for off in 0 0x800 0x3ff0 0x4000 0x5000; do
		case_native "stubjump $off" "signal 11" "$b/stubjump" "$off"
		if [ "$umm_run" = no ]; then
			skip "stubjump $off: under umm run, killed, umm exits 128+signal" "$no_umm"
			skip "stubjump $off: under umm run, every frame free at exit" "$no_umm"
			continue
		fi
		run umm "$b/stubjump" "$off"
		check_frames "stubjump $off"
		case $how in
		exit\ 129 | exit\ 1[3-8][0-9] | exit\ 19[0-2])
			ok "stubjump $off: under umm run, killed, umm exits 128+signal ($how)" ;;
		*)
			not_ok "stubjump $off: under umm run, killed, umm exits 128+signal (got $how)"
			diag "$tmp/out.umm"
			diag "$tmp/err.umm" ;;
		esac
	done
fi

# ---- busybox ----
bb=/bin/busybox
[ -x "$bb" ] || bb=$(command -v busybox 2>/dev/null)
bb_why=""
if [ -z "$bb" ] || [ ! -x "$bb" ]; then
	bb_why="no busybox (Debian: busybox-static)"
elif ldd "$bb" > /dev/null 2>&1; then
	bb_why="$bb is not a static binary (Debian: busybox-static)"
fi
if [ -n "$bb_why" ]; then
	skip "busybox" "$bb_why"
else
	cp "$bb" "$root/bin/busybox" || exit 99
	b=$root/bin/busybox
	case_native "busybox echo" "exit 0" "$b" echo hello
	case_umm "busybox echo" "exit 0" "" "$b" echo hello
	case_native "busybox true" "exit 0" "$b" true
	case_umm "busybox true" "exit 0" "" "$b" true
	case_native "busybox false" "exit 1" "$b" false
	case_umm "busybox false" "exit 1" "" "$b" false
	case_native "busybox seq" "exit 0" "$b" seq 1 10
	case_umm "busybox seq" "exit 0" "" "$b" seq 1 10
	case_native "busybox cat" "exit 0" "$b" cat "$root/data/hello.txt"
	case_umm "busybox cat" "exit 0" "" "$b" cat /data/hello.txt
	case_native "busybox cat big.txt" "exit 0" "$b" cat "$root/data/big.txt"
	case_umm "busybox cat big.txt" "exit 0" "" "$b" cat /data/big.txt
	case_native "busybox sha256sum" "exit 0" "$b" sha256sum "$root/data/big.txt"
	want=$(sha256sum "$root/data/big.txt" 2>/dev/null | cut -d' ' -f1)
	[ -z "$want" ] || grep -q "^$want " "$tmp/out.native" &&
		ok "busybox sha256sum: native hash is the host's" ||
		not_ok "busybox sha256sum: native hash is the host's"
	case_umm "busybox sha256sum" "exit 0" "" "$b" sha256sum /data/big.txt
fi

# ---- what umm run refuses to start ----
if [ "$umm_run" = no ]; then
	skip "umm run of a missing program: 127" "$no_umm"
	skip "umm run of a file that is not ELF: 126" "$no_umm"
	skip "umm run of a dynamic program: 126" "$no_umm"
else
	run umm "$root/nonexistent"
	[ "$how" = "exit 127" ] && ok "umm run of a missing program: 127" ||
		not_ok "umm run of a missing program: 127 (got $how)"
	run umm "$root/data/hello.txt"
	[ "$how" = "exit 126" ] && ok "umm run of a file that is not ELF: 126" ||
		not_ok "umm run of a file that is not ELF: 126 (got $how)"
	dyn=/bin/true
	[ -x "$dyn" ] || dyn=/usr/bin/true
	if ldd "$dyn" > /dev/null 2>&1; then
		run umm "$dyn"
		[ "$how" = "exit 126" ] && ok "umm run of a dynamic program: 126" ||
			not_ok "umm run of a dynamic program: 126 (got $how)"
	else
		skip "umm run of a dynamic program: 126" "$dyn is not dynamic"
	fi
fi

# ---- nothing left behind ----
sleep 0.5
left=$(perl "$tmp/left.pl" "$tmp/sids")
if [ -z "$left" ]; then
	ok "no process left behind by any run"
else
	not_ok "no process left behind by any run"
	for p in $left; do
		echo "#   left: $p $(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null)"
		kill -KILL "$p" 2>/dev/null
	done
fi

echo "1..$n"
exit $fail
