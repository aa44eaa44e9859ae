"""Defanging indicators for human-readable views: `hxxp://example[.]com`, `1.2.3[.]4`, `user[@]example[.]com`.

A defanged indicator can be read and copied into a ticket but is not a live link: terminals, chat tools and mail
clients do not turn it into something one click away from the attacker's server. Only views for people defang
(the text report); JSON and other machine formats keep the exact values, which tools need to block them.

The forms are the common ones (CyberChef, MISP, most CERT advisories): the scheme `http`/`https`/`ftp` becomes
`hxxp`/`hxxps`/`fxp`, other schemes get `[:]`; every dot of a host name becomes `[.]`; an IPv4 address gets only
its last dot bracketed so it stays easy to read; an IPv6 address gets `[:]`; the `@` of an address becomes `[@]`.
Hashes are not links and stay as they are. Defanging a value twice gives the same result as once.
"""

from __future__ import annotations

import ipaddress
import re

__all__ = ["defang", "defang_domain", "defang_email", "defang_ip", "defang_url"]

_SCHEMES = {"http": "hxxp", "https": "hxxps", "ftp": "fxp", "ftps": "fxps", "sftp": "sfxp"}
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)(?P<sep>:(?://)?)(?P<authority>[^/?#\\]*)(?P<rest>.*)$", re.S)
_REFANG_SCHEMES = {v: k for k, v in _SCHEMES.items()}
_BRACKETED = re.compile(r"\[([.:@])\]")


def defang_domain(host: str) -> str:
    """`www.example.co.jp` -> `www[.]example[.]co[.]jp`; an IP literal is defanged as an IP."""
    host = _refang(host)
    bare = host.strip("[]")
    if _is_ip(bare):
        return defang_ip(bare) if not host.startswith("[") else f"[{defang_ip(bare)}]"
    return host.replace(".", "[.]")


def defang_ip(address: str) -> str:
    """`203.0.113.5` -> `203.0.113[.]5`; `2001:db8::1` -> `2001[:]db8[:][:]1`. Not an address: every dot."""
    address = _refang(address)
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address.replace(".", "[.]")
    if ip.version == 4:
        head, _, last = address.rpartition(".")
        return f"{head}[.]{last}"
    return address.replace(":", "[:]")


def defang_email(address: str) -> str:
    """`user@example.com` -> `user[@]example[.]com` (the local part's dots stay: they lead nowhere)."""
    local, at, domain = _refang(address).rpartition("@")
    if not at:
        return defang_domain(domain)
    return f"{local.replace('@', '[@]')}[@]{defang_domain(domain)}"


def defang_url(url: str) -> str:
    """`https://user@evil.example.com:8080/a.php?x=1` -> `hxxps://user[@]evil[.]example[.]com:8080/a.php?x=1`."""
    url = _refang_url(url)
    match = _URL.match(url)
    if match is None or "." in match["scheme"] or (match["sep"] == ":" and not match["authority"] + match["rest"]):
        # No scheme: "evil.example.com:8080/x" or "www.example.com/a"
        cut = next((i for i, ch in enumerate(url) if ch in "/?#\\"), len(url))
        return _defang_hostport(url[:cut]) + url[cut:]
    scheme = match["scheme"]
    sep = match["sep"]
    lower = scheme.lower()
    if lower in _SCHEMES:
        scheme = _SCHEMES[lower]
    else:
        sep = "[:]" + sep[1:]
    authority = match["authority"]
    if sep.endswith("//") or lower in _SCHEMES:
        userinfo, at, hostport = authority.rpartition("@")
        authority = (userinfo.replace("@", "[@]") + "[@]" if at else "") + _defang_hostport(hostport)
        return f"{scheme}{sep}{authority}{match['rest']}"
    # mailto:a@b.c, javascript:..., data:...: no authority; bracket what could be followed.
    rest = authority + match["rest"]
    return f"{scheme}{sep}{rest.replace('@', '[@]').replace('.', '[.]')}"


def _defang_hostport(hostport: str) -> str:
    if hostport.startswith("["):  # [IPv6]:port
        end = hostport.find("]")
        if end > 0:
            return f"[{defang_ip(hostport[1:end])}]{hostport[end + 1 :]}"
    host, colon, port = hostport.rpartition(":")
    if colon and port.isdigit():
        return f"{defang_domain(host)}:{port}"
    return defang_domain(hostport)


def defang(value: str, kind: str) -> str:
    """Defang one indicator of the report's `iocs` by its kind: urls, domains, ips, emails (hashes unchanged)."""
    if kind == "urls":
        return defang_url(value)
    if kind == "domains":
        return defang_domain(value)
    if kind == "ips":
        return defang_ip(value)
    if kind == "emails":
        return defang_email(value)
    return value


def _refang(text: str) -> str:
    """Undo our own brackets, so defanging an already defanged value gives the same result."""
    return _BRACKETED.sub(r"\1", text) if "[" in text else text


def _refang_url(url: str) -> str:
    url = _refang(url)
    scheme, colon, rest = url.partition(":")
    if colon and scheme.lower() in _REFANG_SCHEMES:
        return _REFANG_SCHEMES[scheme.lower()] + colon + rest
    return url


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
