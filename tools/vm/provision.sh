#!/usr/bin/env bash
# Provisions a machine to build and run brokerlab as root (make build,
# sudo make bench): the system packages of tools/deps/packages.tsv (through
# tools/deps/install.sh, the project's one installer), Go on root's PATH,
# and, in the Vagrant VM, stable names for the spare disks.
#
# usage: tools/vm/provision.sh --vm|--host [--repo DIR] [--go-version X.Y.Z]
#
#   --vm    inside the lab's Vagrant VM (Ubuntu 24.04; the Vagrantfile runs
#           it). Installs Go X.Y.Z into /usr/local/go unless that exact
#           version is there, removing the old tree first (a tarball
#           unpacked over an older tree leaves stale files that break the
#           build); links /usr/local/bin/go and gofmt (sudo's secure_path
#           and root's login PATH hold /usr/local/bin, not /usr/local/go/bin);
#           lets root use the rsynced checkout's .git; and names the spare
#           disks /dev/disk/by-id/brokerlab-spare1 and -spare2 (udev rules
#           by serial, the same names on libvirt and VirtualBox).
#   --host  on a Debian-family machine that is not the VM (CI). Keeps any Go
#           at least as new as go.mod's go line and never removes
#           /usr/local/go; only when there is none does it install X.Y.Z
#           beside it, in /usr/local/lib/brokerlab/go. Then links
#           /usr/local/bin/go to the Go it found or installed, when that
#           link is missing.
#   --repo  the checkout (default: the one holding this script)
#   --go-version  the Go release to install when needed (default 1.26.8)
#
# Root only. Safe to run again: each step checks before it changes anything.
set -euo pipefail

mode=
repo=$(cd "$(dirname "$0")/../.." && pwd)
go_version=1.26.8
while [ $# -gt 0 ]; do
	case $1 in
	--vm | --host) mode=${1#--} ;;
	--repo)
		repo=${2:?--repo needs a directory}
		shift
		;;
	--go-version)
		go_version=${2:?--go-version needs a version such as 1.26.8}
		shift
		;;
	*)
		echo "provision.sh: unknown argument $1; usage: provision.sh --vm|--host [--repo DIR] [--go-version X.Y.Z]" >&2
		exit 2
		;;
	esac
	shift
done
if [ -z "$mode" ]; then
	echo "provision.sh: say where it runs: --vm (the Vagrant VM) or --host (any other Debian-family machine, e.g. CI)" >&2
	exit 2
fi
if [ "$(id -u)" != 0 ]; then
	echo "provision.sh: run as root (sudo tools/vm/provision.sh --$mode)" >&2
	exit 1
fi
if [ ! -f "$repo/go.mod" ]; then
	echo "provision.sh: $repo is not a brokerlab checkout (no go.mod); pass --repo DIR" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive

# --- packages --------------------------------------------------------------
if [ "$mode" = vm ]; then
	# Ubuntu ships bpftool and perf in linux-tools (Debian: package bpftool),
	# so they are installed before the list is checked.
	if ! command -v bpftool >/dev/null 2>&1 || ! bpftool version >/dev/null 2>&1; then
		echo ">> installing linux-tools for $(uname -r) (bpftool, perf)"
		apt-get update -qq
		apt-get install -y -qq linux-tools-common linux-tools-generic "linux-tools-$(uname -r)" >/dev/null
	fi
fi
installer=$repo/tools/deps/install.sh
if [ ! -x "$installer" ]; then
	echo "provision.sh: $installer is missing: this checkout predates the package list (tools/deps/packages.tsv)" >&2
	exit 1
fi
echo ">> installing the packages of tools/deps/packages.tsv"
"$installer" --strict

# --- Go --------------------------------------------------------------------
# go_version_of prints the version of the go binary $1 (1.26.8), or nothing.
go_version_of() {
	"$1" env GOVERSION 2>/dev/null | sed -n 's/^go\([0-9][0-9.]*\).*/\1/p'
}
# at_least A B: version A >= version B.
at_least() {
	[ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$2" ]
}
# unpack_go DIR: download Go $go_version, check its SHA-256 against the one
# go.dev publishes, and unpack it as DIR (which must not exist).
unpack_go() {
	local dest=$1 arch tmp url
	arch=$(dpkg --print-architecture)
	url=https://dl.google.com/go/go$go_version.linux-$arch.tar.gz
	tmp=$(mktemp -d)
	echo ">> downloading $url"
	curl -fsSL -o "$tmp/go.tgz" "$url"
	curl -fsSL -o "$tmp/go.tgz.sha256" "$url.sha256"
	echo "$(cat "$tmp/go.tgz.sha256")  $tmp/go.tgz" | sha256sum --check --status || {
		echo "provision.sh: $url does not match its published SHA-256" >&2
		rm -rf "$tmp"
		exit 1
	}
	mkdir -p "$(dirname "$dest")"
	tar -C "$tmp" -xzf "$tmp/go.tgz"
	mv "$tmp/go" "$dest"
	rm -rf "$tmp"
}
# link_go BIN_DIR: point /usr/local/bin/go and gofmt at BIN_DIR's.
link_go() {
	ln -sfn "$1/go" /usr/local/bin/go
	ln -sfn "$1/gofmt" /usr/local/bin/gofmt
	echo ">> /usr/local/bin/go -> $1/go ($(go_version_of /usr/local/bin/go))"
}

required=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$repo/go.mod")
if [ "$mode" = vm ]; then
	if [ "$(go_version_of /usr/local/go/bin/go)" != "$go_version" ]; then
		echo ">> installing Go $go_version into /usr/local/go (removing $(go_version_of /usr/local/go/bin/go || true) first)"
		rm -rf /usr/local/go
		unpack_go /usr/local/go
	fi
	link_go /usr/local/go/bin
else
	found=
	for g in /usr/local/bin/go "$(command -v go || true)" /usr/local/go/bin/go /usr/local/lib/brokerlab/go/bin/go; do
		if [ -n "$g" ] && [ -x "$g" ] && v=$(go_version_of "$g") && [ -n "$v" ] && at_least "$v" "$required"; then
			found=$(dirname "$(readlink -f "$g")")
			echo ">> keeping Go $v at $found (go.mod needs $required)"
			break
		fi
	done
	if [ -z "$found" ]; then
		echo ">> no Go >= $required here: installing Go $go_version into /usr/local/lib/brokerlab/go"
		rm -rf /usr/local/lib/brokerlab/go
		unpack_go /usr/local/lib/brokerlab/go
		found=/usr/local/lib/brokerlab/go/bin
	fi
	if [ ! -e /usr/local/bin/go ]; then
		link_go "$found"
	fi
fi

if [ "$mode" = host ]; then
	exit 0
fi

# --- the VM only -------------------------------------------------------------
# The rsynced checkout belongs to the vagrant user; root's git (and go build's
# VCS stamp) refuse a repository owned by someone else unless it is listed.
if ! git config --system --get-all safe.directory 2>/dev/null | grep -qxF "$repo"; then
	git config --system --add safe.directory "$repo"
fi

# Spare disks: give the two blank disks the Vagrantfile attached a name that
# does not depend on the bus (vdb on libvirt, sdb on VirtualBox). libvirt
# passes the serials brokerlab-spare1/2; VirtualBox makes up its own, so
# there the blank whole disks (no partition table, no signature: a fresh VM's
# only such disks are the spares) are taken in name order.
# A udev rule keyed on the serial keeps the name stable across reboots.
rules=/etc/udev/rules.d/61-brokerlab-spare.rules
if [ ! -f "$rules" ]; then
	n=0
	tmp=$(mktemp)
	while read -r name serial type; do
		[ "$type" = disk ] || continue
		# Blank: no partitions, no filesystem or other signature.
		[ "$(lsblk -n -o NAME "/dev/$name" | wc -l)" = 1 ] || continue
		[ -z "$(blkid -p -o value -s TYPE "/dev/$name" 2>/dev/null)" ] || continue
		id=$(udevadm info --query=property --name="/dev/$name" | sed -n 's/^ID_SERIAL=//p')
		case $serial in
		brokerlab-spare[12]) slot=${serial#brokerlab-spare} ;;
		*) slot=$((n + 1)) ;;
		esac
		[ -n "$id" ] || continue
		n=$((n + 1))
		printf 'ENV{DEVTYPE}=="disk", ENV{ID_SERIAL}=="%s", SYMLINK+="disk/by-id/brokerlab-spare%s"\n' "$id" "$slot" >>"$tmp"
	done < <(lsblk -d -n -o NAME,SERIAL,TYPE | awk 'NF == 2 { print $1, "-", $2; next } { print }')
	if [ "$n" -lt 2 ]; then
		echo "provision.sh: found $n blank spare disks, want 2 (the Vagrantfile attaches them; VirtualBox needs VAGRANT_EXPERIMENTAL=disks)" >&2
		lsblk >&2
		rm -f "$tmp"
		exit 1
	fi
	{
		echo "# brokerlab's spare disks by serial (tools/vm/provision.sh); plans/vm-disks.yaml formats them."
		cat "$tmp"
	} >"$rules"
	rm -f "$tmp"
	udevadm control --reload
	udevadm trigger --subsystem-match=block --action=change
	udevadm settle
fi
ls -l /dev/disk/by-id/brokerlab-spare*
