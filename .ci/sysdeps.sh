#!/usr/bin/env bash
# Installs the system packages triage needs (Debian names), through apt-get when root; otherwise names them.
set -euo pipefail
needed=()
ldconfig -p 2>/dev/null | grep -q 'libmagic\.so\.1' || needed+=(libmagic1)
[ -e /usr/share/misc/magic.mgc ] || [ -e /usr/lib/file/magic.mgc ] || needed+=(libmagic-mgc)
[ ${#needed[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "installing system packages: ${needed[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
else
  echo "triage needs these system packages: ${needed[*]}" >&2
  echo "install them with: sudo apt-get install ${needed[*]}" >&2
  exit 1
fi
