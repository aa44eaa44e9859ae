"""One worker's side of a sweep: an Engine built once, a task in, a ScanResult out. Never raises.

Used by the local process pool and by Dask workers alike, so both engines produce identical results.
"""

from __future__ import annotations

import time
import traceback
import unicodedata
from email.utils import getaddresses

from triage.batch.cache import LruCache
from triage.batch.collect import MessageCollector
from triage.batch.task import CRASHED, NOT_MAIL, UNPARSABLE, EngineSpec, Extras, ScanResult, Task, error_result
from triage.engine import Engine
from triage.plugins import MessageView, PasswordCandidate
from triage.registry import default_analyzers
from triage.report.json import render_json
from triage.unpack.passwords import password_candidates

NO_PASSWORD = "ARCHIVE_ENCRYPTED_NO_PASSWORD"  # noqa: S105 - a finding id
FOLLOWUP_SOURCE = "followup"  # PasswordCandidate.source of passwords a sweep found in a later message
_MAX_OFFERS = 20
_OFFER_TEXT_CHARS = 20_000  # a password mail is short; the password sits near the top
_SAMPLE_CHARS = 2_000
_MAX_IDS = 50


class Scanner:
    """Builds the Engine once; `run` scans one task."""

    def __init__(self, spec: EngineSpec) -> None:
        config = spec.config()
        self.collector = MessageCollector()
        self.cache = LruCache()
        self.engine = Engine(config, analyzers=(*default_analyzers(), self.collector), cache=self.cache)
        self.engine.warm_up()  # the one-off loading now, so the sweep's first message is not the slow one
        self.collector.take()  # forget the warm-up message
        self.limit = config.limits.max_message_size

    def run(self, task: Task) -> ScanResult:
        started = time.monotonic()
        try:
            raw = task.data
            if task.kind == "msg":
                from triage.sources.msg import MsgError, NotMail, msg_to_rfc822

                try:
                    raw = msg_to_rfc822(task.data, limit=self.limit)
                except NotMail as exc:
                    return error_result(task, NOT_MAIL, str(exc))
                except MsgError as exc:
                    return error_result(task, UNPARSABLE, str(exc))
            self.collector.take()
            given = tuple(PasswordCandidate(value=p, source=FOLLOWUP_SOURCE) for p in task.passwords)
            report = self.engine.scan(raw, name=task.source_id, passwords=given)
            extras = self._extras(self.collector.take())
            return ScanResult(
                seq=task.seq,
                source_id=task.source_id,
                container=task.container,
                folder=task.folder,
                size=task.size,
                report=report,
                report_json=render_json(report),
                extras=extras,
                seconds=round(time.monotonic() - started, 4),
                passwords=task.passwords,
                raw=raw if any(f.id == NO_PASSWORD for f in report.findings) else b"",
            )
        except Exception as exc:  # the engine never raises by contract; if it does, one message is lost, not the run
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:500]
            return error_result(task, CRASHED, detail)

    def _extras(self, view: MessageView | None) -> Extras:
        if view is None:
            return Extras()
        by_name: dict[str, list[str]] = {}
        for name, value in view.headers:
            by_name.setdefault(name.lower(), []).append(value)
        texts = [
            ("body", view.text[:_OFFER_TEXT_CHARS]),
            ("html", view.html_text[:_OFFER_TEXT_CHARS]),
            ("subject", view.info.subject or ""),
        ]
        offers = password_candidates(texts, wordlist=(), extra=(), limit=_MAX_OFFERS, cues=self.engine.password_cues)
        addresses = getaddresses([v for key in ("to", "cc", "bcc", "delivered-to") for v in by_name.get(key, [])])
        recipients = dict.fromkeys(a.strip().lower() for _, a in addresses if "@" in a)
        sample = " ".join(unicodedata.normalize("NFKC", view.text or view.html_text)[:_SAMPLE_CHARS].split())
        return Extras(
            in_reply_to=_first_id(by_name.get("in-reply-to", [])),
            references=tuple(_ids(" ".join(by_name.get("references", []))))[:_MAX_IDS],
            recipients=tuple(recipients)[:500],
            password_offers=tuple(c.value for c in offers),
            text_sample=sample,
        )


def _ids(text: str) -> list[str]:
    out: list[str] = []
    for part in text.split("<")[1 : _MAX_IDS + 1]:
        ident = part.partition(">")[0].strip()
        if ident and len(ident) < 500:
            out.append(f"<{ident}>")
    return out


def _first_id(values: list[str]) -> str:
    ids = _ids(" ".join(values))
    return ids[0] if ids else ""
