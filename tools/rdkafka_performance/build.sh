#!/usr/bin/env bash
# Builds librdkafka's rdkafka_performance tool from the example source that
# Debian's librdkafka-dev ships (/usr/share/doc/librdkafka-dev/examples/).
# The example includes two of librdkafka's internal headers; compat/ holds
# minimal stand-ins for the three names it uses (rd_snprintf, rd_ts_t and a
# monotonic rd_clock() in microseconds).
#
# usage: tools/rdkafka_performance/build.sh OUT
#        tools/rdkafka_performance/build.sh --check   # exit 0 when the source is there
set -euo pipefail
src=/usr/share/doc/librdkafka-dev/examples/rdkafka_performance.c
if [ "${1:-}" = --check ]; then
	[ -f "$src" ] || [ -f "$src.gz" ]
	exit
fi
out=${1:?usage: build.sh OUT}
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -f "$src" ] && [ -f "$src.gz" ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	gunzip -c "$src.gz" >"$tmp/rdkafka_performance.c"
	src=$tmp/rdkafka_performance.c
fi
[ -f "$src" ] || { echo "build.sh: $src not found: apt-get install librdkafka-dev" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
# -I compat/src satisfies "../src/rd.h" relative to a file in compat/src/x.
gcc -O2 -w -I"$here/compat" -I"$here/compat/src" -I/usr/include/librdkafka \
	-include "$here/compat/rd.h" -o "$out" "$src" -lrdkafka -lpthread -lm
