#!/bin/sh
# Install the Debian packages umm needs to build and test, if any are
# missing. Sourced by the other scripts; safe to run again.
set -e
UMM_PACKAGES="gcc libc6-dev make autoconf automake pkg-config liburcu-dev libseccomp-dev musl-tools busybox-static"
missing=""
for p in $UMM_PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	echo "umm: installing:$missing"
	if [ "$(id -u)" -eq 0 ]; then
		sudo=""
	else
		sudo="sudo"
	fi
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing
fi
