#!/bin/sh
# Set up, build with -Werror and run `make check`; then the same again
# with AddressSanitizer and UndefinedBehaviorSanitizer, and with
# ThreadSanitizer.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)
echo "== make check (-Werror)"
"$top/scripts/build.sh" build --enable-werror
make -C "$top/build" -j"$jobs" check
echo "== make check (-Werror, ASan + UBSan)"
"$top/scripts/build.sh" build-san --enable-werror --enable-sanitizers
make -C "$top/build-san" -j"$jobs" check
echo "== make check (ThreadSanitizer)"
"$top/scripts/build.sh" build-tsan --enable-werror --enable-tsan
make -C "$top/build-tsan" -j"$jobs" check
if command -v clang-format >/dev/null 2>&1; then
	echo "== make format-check"
	make -C "$top/build" format-check
fi
