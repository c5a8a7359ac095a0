#!/usr/bin/env bash
# Installs what brokerlab needs from the system (make deps): the Debian
# packages of every entry of tools/deps/packages.tsv that is missing, then
# kafkajs from tests/kafkajs/package-lock.json.
#
# Idempotent and quick when everything is there: the check is `command -v`
# and file tests, with no apt or dpkg call. As root it runs apt-get update
# and apt-get install for the missing packages only. Without root it prints
# one line naming the missing packages and the command that installs them,
# and exits 0, so that make test still runs (the tests that need a missing
# program skip and say so) and make bench skips the stages that need it.
#
# usage: tools/deps/install.sh [--strict] [--check]
#   --strict  exit 1 when anything is still missing at the end (CI)
#   --check   install nothing; print what is missing, exit 1 if anything is
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
list=$here/packages.tsv

strict=0
check=0
for arg in "$@"; do
	case $arg in
	--strict) strict=1 ;;
	--check) check=1 ;;
	*)
		echo "install.sh: unknown argument $arg; usage: install.sh [--strict] [--check]" >&2
		exit 2
		;;
	esac
done

# have reports whether a packages.tsv entry is present: a file (or its .gz
# twin), or a program on PATH or in an sbin directory (which a user's PATH
# may lack).
have() {
	case $1 in
	/*) [ -e "$1" ] || [ -e "$1.gz" ] ;;
	*)
		command -v "$1" >/dev/null 2>&1 && return 0
		local d
		for d in /usr/local/sbin /usr/sbin /sbin; do
			[ -x "$d/$1" ] && return 0
		done
		return 1
		;;
	esac
}

# missing_packages prints the packages of the missing entries, once each.
missing_packages() {
	local what pkg _why
	local -A seen=()
	while IFS=$'\t' read -r what pkg _why; do
		case $what in '' | '#'*) continue ;; esac
		if ! have "$what" && [ -z "${seen[$pkg]:-}" ]; then
			seen[$pkg]=1
			printf '%s\n' "$pkg"
		fi
	done <"$list"
}

mapfile -t missing < <(missing_packages)

if [ "${#missing[@]}" -gt 0 ]; then
	if [ "$check" = 1 ]; then
		echo "deps: missing packages: ${missing[*]}"
		exit 1
	elif [ "$(id -u)" = 0 ]; then
		echo ">> installing ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		# Wait for another apt or dpkg (unattended-upgrades on a new
		# machine) to let go of its lock, instead of failing at once.
		lock=(-o DPkg::Lock::Timeout=600)
		apt-get "${lock[@]}" update -qq
		apt-get "${lock[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
		mapfile -t missing < <(missing_packages)
		if [ "${#missing[@]}" -gt 0 ]; then
			echo "deps: still missing after apt-get install: ${missing[*]}; see tools/deps/packages.tsv" >&2
			exit 1
		fi
	else
		echo "deps: missing ${missing[*]} (tests that need them skip; make bench skips their stages); install with: sudo apt-get install -y ${missing[*]}"
		if [ "$strict" = 1 ]; then
			exit 1
		fi
	fi
fi

# kafkajs for broker/group_test.go: npm ci when node_modules was not made
# from the current package-lock.json (a stamp records the lock's checksum).
js=$root/tests/kafkajs
if [ -f "$js/package-lock.json" ] && command -v npm >/dev/null 2>&1; then
	want=$(sha256sum "$js/package-lock.json" | cut -d' ' -f1)
	stamp=$js/node_modules/.package-lock.sha256
	if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
		if [ "$check" = 1 ]; then
			echo "deps: tests/kafkajs/node_modules is not installed from package-lock.json"
			exit 1
		fi
		echo ">> installing kafkajs (npm ci in tests/kafkajs)"
		if (cd "$js" && npm ci --no-audit --no-fund --silent); then
			echo "$want" >"$stamp"
		else
			echo "deps: npm ci in tests/kafkajs failed (the kafkajs test skips)" >&2
			if [ "$strict" = 1 ]; then
				exit 1
			fi
		fi
	fi
fi
