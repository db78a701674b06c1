#!/bin/sh
# Set up (install missing packages), build, and run `umm demo`.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/build.sh" build >/dev/null
exec "$top/build/umm" demo "$@"
