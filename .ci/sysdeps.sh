#!/usr/bin/env bash
# Installs the system packages triage needs (Debian names), through apt-get when root; otherwise names them.
#   libmagic1/libmagic-mgc  python-magic's file typing
#   unar, 7zip              RAR (and other archive) backends for rarfile; nothing is extracted to disk
#   libmilter-dev           pymilter is built against it (the gateway extra)
#   gcc, libssl-dev         pymilter's build, and triage/native's C key derivation against OpenSSL
#   postfix                 the real MTA the gateway tests start on 127.0.0.1
#   chromium                the headless browser the HTML report tests drive through Playwright
#   fonts-ipafont-gothic    Japanese glyphs for the browser tests' screenshots of Japanese pages
set -euo pipefail
needed=()
ldconfig -p 2>/dev/null | grep -q 'libmagic\.so\.1' || needed+=(libmagic1)
[ -e /usr/share/misc/magic.mgc ] || [ -e /usr/lib/file/magic.mgc ] || needed+=(libmagic-mgc)
command -v unar >/dev/null || needed+=(unar)
command -v 7zz >/dev/null || command -v 7z >/dev/null || needed+=(7zip)
[ -e /usr/include/libmilter/mfapi.h ] || needed+=(libmilter-dev)
command -v cc >/dev/null || needed+=(gcc)
[ -e /usr/include/openssl/evp.h ] || needed+=(libssl-dev)
[ -x /usr/sbin/postfix ] || needed+=(postfix)
[ -x /usr/bin/chromium ] || needed+=(chromium)
[ -e /usr/share/fonts/opentype/ipafont-gothic/ipag.ttf ] || needed+=(fonts-ipafont-gothic)
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
