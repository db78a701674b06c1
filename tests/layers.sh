#!/bin/sh
# The layers depend downwards only: um -> mm -> arch -> host. A header from
# a layer above is a layering bug; so is a host call (mmap, mprotect,
# munmap, memfd_create, fallocate) outside host/, or a signal handler
# outside um/. The bench files of um/ are the exception: their native runs
# are the host kernel doing the same work as the guest, directly.
# um/fs.c is the one place that opens host files, pipes and directories on
# a guest's behalf: the guest's files are host files by design (its root is
# a host directory, looked up with openat2 RESOLVE_IN_ROOT), so that code
# stays in one file to audit.
top=${top_srcdir:-$(dirname "$0")/..}
cd "$top" || exit 1
n=0
fail=0
check() {
	n=$((n + 1))
	if [ -z "$2" ]; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1"
		echo "$2" | sed 's/^/#   /'
		fail=1
	fi
}
check "host/ includes nothing from arch/, mm/, um/" \
	"$(grep -nE '#include "(arch|mm|um)/' host/*.[ch])"
check "arch/ includes nothing from mm/, um/" \
	"$(grep -nE '#include "(mm|um)/' arch/*.[ch])"
check "mm/ includes nothing from um/" \
	"$(grep -nE '#include "um/' mm/*.[ch])"
check "only host/ calls mmap, mprotect, munmap, memfd_create, fallocate" \
	"$(grep -nE '\<(mmap|mprotect|munmap|memfd_create|fallocate|madvise)\(' \
		arch/*.[ch] mm/*.[ch] um/*.[ch] | grep -v '^um/bench[a-z_]*\.c:')"
check "only um/fs.c makes a guest's host file calls (openat2, getdents64, pipe2)" \
	"$(grep -nE 'SYS_openat2|SYS_getdents64|\<pipe2\(' \
		host/*.[ch] arch/*.[ch] mm/*.[ch] um/*.[ch] | grep -v '^um/fs\.c:')"
check "only um/ installs signal handlers" \
	"$(grep -nE '\<(sigaction|signal)\(' host/*.[ch] arch/*.[ch] mm/*.[ch])"
check "only um/ uses libseccomp" \
	"$(grep -nE 'seccomp' host/*.[ch] arch/*.[ch] mm/*.[ch])"
echo "1..$n"
exit $fail
