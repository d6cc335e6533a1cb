#!/usr/bin/env bash
# .ci/install-shells.sh: make sure zsh and fish are installed, for the tests
# that run convo's completion scripts in each shell (cmd/convo:
# TestZshCompletion, TestFishCompletion; bash is always there). Idempotent:
# when both are on PATH it does nothing; otherwise it runs apt-get update
# and installs the missing ones (as root, or through sudo).
set -euo pipefail

log() { echo "install-shells: $*"; }
die() { echo "install-shells: error: $*" >&2; exit 1; }

missing=()
for sh in zsh fish; do
	command -v "$sh" >/dev/null 2>&1 || missing+=("$sh")
done
if [ ${#missing[@]} -eq 0 ]; then
	log "zsh and fish already installed"
	exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || die "not root and no sudo: install ${missing[*]} by hand"
	SUDO="sudo"
fi
command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script supports Debian and Ubuntu; install ${missing[*]} by hand"

export DEBIAN_FRONTEND=noninteractive
log "apt-get update"
$SUDO apt-get update -q
log "apt-get install ${missing[*]}"
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
for sh in "${missing[@]}"; do
	command -v "$sh" >/dev/null 2>&1 || die "$sh installed but not on PATH"
done
log "installed ${missing[*]}"
