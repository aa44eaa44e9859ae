"""Maildir (with Maildir++ folders) and MH (nested folders): every message once, ids stable across runs and
across flag changes."""

from __future__ import annotations

import mailbox
from pathlib import Path

from conftest import make_message

from triage.sources.entry import want_all
from triage.sources.maildir import is_maildir, iter_maildir
from triage.sources.mh import is_mh, iter_mh


def _maildir(root: Path) -> None:
    box = mailbox.Maildir(str(root), create=True)
    for i in range(3):
        box.add(make_message(subject=f"inbox {i}"))
    sent = box.add_folder("Sent")
    sent.add(make_message(subject="sent 0"))


def test_maildir_every_message_once_stable_ids(tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    _maildir(root)
    assert is_maildir(root)
    first = list(iter_maildir(root, limit=1 << 20, want=want_all))
    assert len(first) == 4
    assert sorted(e.folder for e in first) == ["", "", "", "Sent"]
    assert len({e.source_id for e in first}) == 4
    # A client reading the mail moves it to cur/ and adds flags: the key, and so the id, stays.
    new_dir = root / "new"
    for name in list(new_dir.iterdir()):
        name.rename(root / "cur" / (name.name + ":2,S"))
    second = list(iter_maildir(root, limit=1 << 20, want=want_all))
    assert {e.source_id for e in second} == {e.source_id for e in first}
    subjects = sorted(e.data.split(b"Subject: ")[1].split(b"\r\n")[0] for e in second)
    assert subjects == [b"inbox 0", b"inbox 1", b"inbox 2", b"sent 0"]


def test_maildir_oversize_and_resume(tmp_path: Path) -> None:
    root = tmp_path / "md"
    box = mailbox.Maildir(str(root), create=True)
    box.add(make_message(body="x" * 5000))
    key = box.add(make_message(subject="small"))
    entries = list(iter_maildir(root, limit=2000, want=lambda s: not s.endswith(key)))
    assert sorted(e.kind for e in entries) == ["done", "error"]


def test_mh_nested_folders(tmp_path: Path) -> None:
    root = tmp_path / "Mail"
    box = mailbox.MH(str(root), create=True)
    box.add(make_message(subject="top"))
    inbox = box.add_folder("inbox")
    inbox.add(make_message(subject="in 1"))
    inbox.add(make_message(subject="in 2"))
    inbox.add_folder("2026").add(make_message(subject="archived"))
    box.close()
    (root / ".mh_sequences").touch()
    assert is_mh(root)
    entries = list(iter_mh(root, limit=1 << 20, want=want_all))
    assert sorted(e.folder for e in entries) == ["", "inbox", "inbox", "inbox/2026"]
    assert len({e.source_id for e in entries}) == 4
    again = [e.source_id for e in iter_mh(root, limit=1 << 20, want=want_all)]
    assert again == [e.source_id for e in entries]
