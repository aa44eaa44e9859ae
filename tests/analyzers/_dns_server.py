"""A tiny authoritative DNS server for tests: answers from a dict, on 127.0.0.1 only, on a free port."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from dnslib import QTYPE, RCODE, RR, TXT, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer

Zone = Mapping[tuple[str, str], Sequence[str]]  # (name, "TXT" | "A") -> values


class ZoneResolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, zone: Zone) -> None:
        self.zone = {(name.lower().rstrip("."), qtype): list(values) for (name, qtype), values in zone.items()}
        self.names = {name for name, _ in self.zone}
        self.queries: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        qname = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        with self.lock:
            self.queries.append((qname, qtype))
        values = self.zone.get((qname, qtype))
        if values is None:
            if qname not in self.names:
                reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for value in values:
            if qtype == "TXT":
                chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
                reply.add_answer(RR(qname, QTYPE.TXT, rdata=TXT(chunks), ttl=60))
            elif qtype == "A":
                reply.add_answer(RR(qname, QTYPE.A, rdata=A(value), ttl=60))
        return reply


@contextmanager
def dns_server(zone: Zone) -> Iterator[tuple[int, ZoneResolver]]:
    """(port, resolver) of a running UDP server bound to 127.0.0.1; stopped on exit."""
    resolver = ZoneResolver(zone)
    quiet = DNSLogger(prefix=False, logf=lambda _line: None)
    server = DNSServer(resolver, address="127.0.0.1", port=0, logger=quiet)
    server.start_thread()
    try:
        yield server.server.server_address[1], resolver
    finally:
        server.stop()
        server.server.server_close()


@contextmanager
def silent_server() -> Iterator[int]:
    """A UDP port on 127.0.0.1 that receives queries and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (free a moment ago)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port
