#!/bin/sh
# The stub's code is copied into a child that has nothing else mapped: its
# section (umm_stub_text) must refer to nothing outside itself. Any
# relocation in it (a call to memset, a jump table, a constant in .rodata,
# a stack-protector canary) would be a jump or a load into nowhere there.
obj=${UMM:+$(dirname "$UMM")/host/libhoststub_a-stub_code.o}
if [ -z "$obj" ] || [ ! -f "$obj" ]; then
	echo "1..0 # SKIP no stub object (run from make check)"
	exit 0
fi
if ! command -v readelf >/dev/null 2>&1; then
	echo "1..0 # SKIP no readelf"
	exit 0
fi
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
sections=$(readelf -SW "$obj")
case $sections in
*umm_stub_text*) check "the object has a umm_stub_text section" "" ;;
*) check "the object has a umm_stub_text section" "missing" ;;
esac
check "umm_stub_text carries no relocation" \
	"$(readelf -rW "$obj" | sed -n "/'.rela.\{0,1\}umm_stub_text'/,/^$/p")"
check "umm_stub_text calls nothing through the PLT or GOT" \
	"$(objdump -d -j umm_stub_text "$obj" 2>/dev/null | grep -E '@plt|@GOT|%fs:')"
echo "1..$n"
exit $fail
