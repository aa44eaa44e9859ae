"""Precision, recall and false-positive rate of the Japanese text findings over the labelled set in tests/data/ja.

The set (see tests/data/ja/README.md): natural.toml (natural Japanese written for it), lures.toml (synthetic
unnatural/lure texts, each with its source) and corpus.toml (real mail referenced by path under
../shared/corpus; skipped when the corpus is absent). For each JA_* id it prints true positives, false
positives, precision, recall and false-positive rate, then every firing on a natural text (the bar is none)
and every miss, and the cost per Japanese message.

    .venv/bin/python bench/eval_text.py [--corpus DIR] [--verbose] [--no-naturalness]
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from triage.analyzers.ja_text import JapaneseTextAnalyzer, is_japanese
from triage.config import load_config
from triage.ingest.eml import parse_email
from triage.model import Finding, MessageInfo
from triage.plugins import DeadlineExceeded, MessageView

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "ja"
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
IDS = ("JA_NON_JAPANESE_KANJI", "JA_UNNATURAL_PHRASE", "JA_LOW_NATURALNESS")


@dataclass(frozen=True)
class Case:
    """One labelled message: what it is, what must fire, and what may fire without counting against us."""

    id: str
    label: str  # "natural" or "lure"
    origin: str  # "own" or "corpus"
    expect: frozenset[str]
    allow: frozenset[str]
    view: MessageView
    note: str = ""


class _Context:
    """The little of PluginContext the analyzer uses: no deadline here."""

    def check_deadline(self) -> None:
        return None

    def remaining_seconds(self) -> float:
        return float("inf")


def text_view(subject: str, body: str) -> MessageView:
    return MessageView(
        info=MessageInfo(subject=subject or None),
        artifact="a0",
        headers=(),
        text=body,
        html_text="",
        html="",
        defects=(),
    )


def eml_view(raw: bytes) -> MessageView:
    parsed = parse_email(raw)
    return MessageView(
        info=parsed.info,
        artifact="a0",
        headers=parsed.headers,
        text=parsed.text,
        html_text=parsed.html_text,
        html=parsed.html,
        defects=parsed.defects,
        charsets=parsed.charsets,
    )


def _ids(value: object, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(v in IDS for v in value):
        raise ValueError(f"{where}: must be a list of {', '.join(IDS)}")
    return frozenset(value)


def own_cases(data: Path = DATA) -> Iterator[Case]:
    """The texts written for the set: natural.toml (expect nothing) and lures.toml."""
    for name, label in (("natural.toml", "natural"), ("lures.toml", "lure")):
        with (data / name).open("rb") as fh:
            doc = tomllib.load(fh)
        for raw in doc["case"]:
            where = f"{name}: {raw['id']}"
            if label == "lure" and not raw.get("source"):
                raise ValueError(f"{where}: a lure text needs its source")
            yield Case(
                id=raw["id"],
                label=label,
                origin="own",
                expect=_ids(raw.get("expect", []), where),
                allow=frozenset(),
                view=text_view(raw.get("subject", ""), raw["body"]),
                note=raw.get("source", ""),
            )


def corpus_cases(corpus: Path, data: Path = DATA) -> Iterator[Case]:
    """The corpus messages named in corpus.toml; none when the corpus is not there."""
    if not corpus.is_dir():
        return
    with (data / "corpus.toml").open("rb") as fh:
        doc = tomllib.load(fh)
    for raw in doc["case"]:
        path = corpus / raw["path"]
        where = f"corpus.toml: {raw['path']}"
        yield Case(
            id=raw["path"].rsplit("/", 1)[-1],
            label=raw["label"],
            origin="corpus",
            expect=_ids(raw.get("expect", []), where),
            allow=_ids(raw.get("allow", []), where),
            view=eml_view(path.read_bytes()),
            note=raw.get("note", ""),
        )


def run(analyzer: JapaneseTextAnalyzer, case: Case) -> list[Finding]:
    try:
        return list(analyzer.analyze(case.view, _Context()))  # type: ignore[arg-type]
    except DeadlineExceeded:  # pragma: no cover - the context never raises
        return []


def _ratio(num: int, den: int) -> str:
    return f"{num / den:6.1%}" if den else "     -"


def report(cases: Sequence[Case], results: Sequence[list[Finding]], verbose: bool) -> int:
    """Print the table and the firings that matter; returns the number of firings on natural texts."""
    print(f"{'finding':<24} {'TP':>4} {'FP':>4} {'FN':>4} {'TN':>5} {'precision':>10} {'recall':>8} {'FP rate':>8}")
    for finding_id in IDS:
        tp = fp = fn = tn = 0
        for case, findings in zip(cases, results, strict=True):
            fired = any(f.id == finding_id for f in findings)
            wanted = finding_id in case.expect
            if wanted:
                tp, fn = tp + fired, fn + (not fired)
            elif finding_id in case.allow:
                continue
            else:
                fp, tn = fp + fired, tn + (not fired)
        print(
            f"{finding_id:<24} {tp:>4} {fp:>4} {fn:>4} {tn:>5} {_ratio(tp, tp + fp):>10} "
            f"{_ratio(tp, tp + fn):>8} {_ratio(fp, fp + tn):>8}"
        )
    for origin in ("own", "corpus"):
        for finding_id in IDS:
            expected = [
                (c, r) for c, r in zip(cases, results, strict=True) if c.origin == origin and finding_id in c.expect
            ]
            hit = sum(any(f.id == finding_id for f in r) for _, r in expected)
            if expected:
                print(f"  recall on {origin} texts, {finding_id}: {hit}/{len(expected)}")

    for origin in ("own", "corpus"):
        lures = [(c, r) for c, r in zip(cases, results, strict=True) if c.origin == origin and c.label == "lure"]
        flagged = sum(1 for _, r in lures if r)
        if lures:
            print(f"  {origin} lures flagged by any JA_* finding: {flagged}/{len(lures)}")

    natural_firings = 0
    print("\nfirings on natural texts (must be none):")
    for case, findings in zip(cases, results, strict=True):
        if case.label == "natural" and findings:
            natural_firings += 1
            print(f"  {case.origin}:{case.id}")
            for f in findings:
                print(f"      {f.id} {f.strength}: {' | '.join(f.evidence)}")
    if not natural_firings:
        print("  none")
    print("\nunexpected firings on lures, and misses:")
    for case, findings in zip(cases, results, strict=True):
        if case.label != "lure":
            continue
        fired_ids = {f.id for f in findings}
        extra = fired_ids - case.expect - case.allow
        missed = case.expect - fired_ids
        if extra or missed or verbose:
            print(f"  {case.origin}:{case.id}  missed={sorted(missed)} unexpected={sorted(extra)}  ({case.note})")
            if verbose or extra:
                for f in findings:
                    print(f"      {f.id} {f.strength}: {' | '.join(f.evidence)}")
    return natural_firings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--verbose", action="store_true", help="show every lure's findings")
    parser.add_argument("--no-naturalness", action="store_true", help="without SudachiPy (JA_LOW_NATURALNESS)")
    parser.add_argument("--repeat", type=int, default=20, help="timing repeats per message")
    args = parser.parse_args()

    overrides = {"analyzers": {"ja_text": {"naturalness": False}}} if args.no_naturalness else None
    t0 = time.perf_counter()
    analyzer = JapaneseTextAnalyzer()
    analyzer.setup(load_config(overrides=overrides))
    print(f"set-up: {(time.perf_counter() - t0) * 1000:.0f} ms; naturalness (SudachiPy): {analyzer.has_naturalness}")

    cases = [*own_cases(), *corpus_cases(args.corpus)]
    counts = {
        (origin, label): sum(1 for c in cases if c.origin == origin and c.label == label)
        for origin in ("own", "corpus")
        for label in ("natural", "lure")
    }
    print("cases: " + ", ".join(f"{o}/{lab} {n}" for (o, lab), n in counts.items()))
    results = [run(analyzer, case) for case in cases]
    natural_firings = report(cases, results, args.verbose)

    japanese = [c for c in cases if is_japanese(_joined(c.view))]
    if japanese:
        t0 = time.perf_counter()
        for _ in range(args.repeat):
            for case in japanese:
                run(analyzer, case)
        per = (time.perf_counter() - t0) / (args.repeat * len(japanese))
        print(f"\ncost: {per * 1e6:.0f} µs per Japanese message ({len(japanese)} messages × {args.repeat})")
    return 1 if natural_firings else 0


def _joined(view: MessageView) -> str:
    return "\n".join((view.info.subject or "", view.text, view.html_text))


if __name__ == "__main__":
    sys.exit(main())
