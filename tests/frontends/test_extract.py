"""`triage extract`: the AES zip opens only with `infected`, members are named by hash, the manifest matches the
report, selection by id / type / payload, hostile names never reach a path, nothing else is written, and an
existing zip is not replaced without --force."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import re
from pathlib import Path

import pytest
import pyzipper

from tests._pe import minimal_pe
from tests.conftest import ROOT, make_message
from triage import extract as extract_mod
from triage.engine import Engine
from triage.extract import Selection, plan, scan_keeping
from triage.frontends.cli import main
from triage.model import Report

SAMPLES = ROOT / "samples"
EXE_SAMPLE = SAMPLES / "05_rlo_exe.eml"  # an RLO-named PE attachment
OFFICE_SAMPLE = SAMPLES / "22_encrypted_docm_in_aes_zip.eml"  # AES zip > encrypted docm > decrypted docm > VBA
MEMBER = re.compile(r"[0-9a-f]{64}\.[a-z0-9]{1,10}_")


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["extract", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _files(top: Path) -> set[str]:
    """Every file and folder under `top`, hidden ones included, as relative paths."""
    found: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(top):
        for name in [*dirnames, *filenames]:
            found.add(str((Path(dirpath) / name).relative_to(top)))
    return found


def _open(zip_path: Path) -> dict[str, bytes]:
    with pyzipper.AESZipFile(zip_path) as zf:
        zf.setpassword(b"infected")
        return {info.filename: zf.read(info.filename) for info in zf.infolist()}


def _outputs(out: Path, raw: bytes) -> tuple[Path, Path]:
    digest = hashlib.sha256(raw).hexdigest()
    return out / f"{digest}.zip", out / f"{digest}.manifest.json"


@pytest.fixture(scope="module")
def office() -> tuple[Report, dict[str, bytes]]:
    return scan_keeping(Engine().scan, OFFICE_SAMPLE.read_bytes(), str(OFFICE_SAMPLE))


def test_executable_sample_in_aes_zip_that_opens_only_with_infected(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, engine: Engine
) -> None:
    out = tmp_path / "out" / "new"  # created, parents too
    code, stdout, _ = _run(capsys, str(EXE_SAMPLE), "--out", str(out))
    assert code == 0
    raw = EXE_SAMPLE.read_bytes()
    zip_path, manifest_path = _outputs(out, raw)
    assert _files(out) == {zip_path.name, manifest_path.name}
    assert "\u202e" not in stdout and "\\u202e" in stdout

    with pyzipper.AESZipFile(zip_path) as zf:
        infos = zf.infolist()
        assert all(i.flag_bits & 0x1 and i.wz_aes_strength == 3 for i in infos)  # AES-256
        names = [i.filename for i in infos]
        with pytest.raises(RuntimeError):
            zf.read(names[0])  # no password
        zf.setpassword(b"wrong")
        with pytest.raises(RuntimeError):
            zf.read(names[0])
    members = _open(zip_path)

    report = engine.scan(raw, name=str(EXE_SAMPLE))
    exe = next(a for a in report.artifacts if "pe" in a.types)
    assert set(members) == {f"{exe.sha256}.exe_", "manifest.json"}
    assert hashlib.sha256(members[f"{exe.sha256}.exe_"]).hexdigest() == exe.sha256

    inside = json.loads(members["manifest.json"])
    beside = json.loads(manifest_path.read_text(encoding="utf-8"))
    assert inside == beside
    assert beside["verdict"] == {
        "level": report.verdict.level.value,
        "complete": report.verdict.complete,
        "score": report.score.total,
    }
    (entry,) = beside["artifacts"]
    assert (entry["id"], entry["sha256"], entry["sha1"], entry["md5"]) == (exe.id, exe.sha256, exe.sha1, exe.md5)
    assert (entry["types"], entry["size"]) == (list(exe.types), exe.size)
    assert entry["name"] == "報告書\\u202efdp.exe"  # escaped, never the raw override
    assert entry["display_name"] == "報告書exe.pdf"
    assert [p["id"] for p in entry["parents"]] == [exe.parent]
    assert sorted(f["id"] for f in entry["findings"]) == sorted(f.id for f in report.findings if f.artifact == exe.id)
    assert "\u202e" not in manifest_path.read_text(encoding="utf-8")


def test_encrypted_office_document_payloads_and_extensions(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, office: tuple[Report, dict[str, bytes]]
) -> None:
    report, _ = office
    code, _, _ = _run(capsys, str(OFFICE_SAMPLE), "--out", str(tmp_path))
    assert code == 0
    zip_path, manifest_path = _outputs(tmp_path, OFFICE_SAMPLE.read_bytes())
    members = _open(zip_path)
    zipped = next(a for a in report.artifacts if a.types == ("zip",))
    encrypted = next(a for a in report.artifacts if "ooxml-encrypted" in a.types)
    decrypted = next(a for a in report.artifacts if "ooxml" in a.types)
    vba = next(a for a in report.artifacts if a.meta.get("decoded") == "vba")
    expected = {f"{zipped.sha256}.zip_", f"{encrypted.sha256}.docm_", f"{decrypted.sha256}.docm_", "manifest.json"}
    assert set(members) == expected  # the macro source (a decoded view) and the body are not payloads
    for name, data in members.items():
        if name != "manifest.json":
            assert hashlib.sha256(data).hexdigest() == name.split(".")[0]
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    assert [e["id"] for e in manifest["artifacts"]] == [zipped.id, encrypted.id, decrypted.id]
    assert manifest["artifacts"][2]["parents"][0]["id"] == encrypted.id
    assert not any(n.startswith(str(vba.sha256)) for n in members)


def test_all_adds_body_parts_and_decoded_views(office: tuple[Report, dict[str, bytes]]) -> None:
    report, _ = office
    default = {c.artifact.id for c in plan(report, Selection()).chosen}
    assert default == {c.artifact.id for c in plan(report, Selection(payloads=True)).chosen}
    everything = {c.artifact.id for c in plan(report, Selection(everything=True)).chosen}
    below = {a.id for a in report.artifacts if a.depth > 0}
    assert everything == below
    extra = {
        "body" if report.artifact(i).meta.get("body") else str(report.artifact(i).meta.get("decoded"))
        for i in everything - default
    }
    assert extra == {"body", "vba"}


def test_selection_by_id_and_type(office: tuple[Report, dict[str, bytes]]) -> None:
    report, _ = office
    encrypted = next(a for a in report.artifacts if "ooxml-encrypted" in a.types)
    vba = next(a for a in report.artifacts if a.meta.get("decoded") == "vba")
    assert [c.artifact.id for c in plan(report, Selection(ids=(encrypted.id,))).chosen] == [encrypted.id]
    # an explicit id takes even a decoded view; a type only takes files
    assert [c.artifact.id for c in plan(report, Selection(ids=(vba.id,))).chosen] == [vba.id]
    assert [c.artifact.id for c in plan(report, Selection(types=("ole",))).chosen] == [encrypted.id]
    assert plan(report, Selection(types=("text",))).chosen == ()
    assert plan(report, Selection(types=("pe",))).chosen == ()
    union = plan(report, Selection(ids=(vba.id,), types=("ole",)))
    assert [(c.artifact.id, c.why) for c in union.chosen] == [(encrypted.id, ("type:ole",)), (vba.id, ("id",))]


def test_cli_id_type_and_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path, engine: Engine) -> None:
    out = tmp_path / "out"
    code, _, err = _run(capsys, str(EXE_SAMPLE), "--out", str(out), "--type", "pdf")
    assert code == 1 and "nothing selected" in err
    code, _, err = _run(capsys, str(EXE_SAMPLE), "--out", str(out), "--id", "a999")
    assert code == 1 and "a999" in err
    code, _, err = _run(capsys, str(EXE_SAMPLE), "--out", str(out), "--type", "exe-ish")
    assert code == 2 and "exe-ish" in err
    code, _, err = _run(capsys, str(tmp_path / "missing.eml"), "--out", str(out))
    assert code == 1
    assert not out.exists()  # nothing written, not even the folder
    a_file = tmp_path / "a-file"
    a_file.write_bytes(b"")
    code, _, err = _run(capsys, str(EXE_SAMPLE), "--out", str(a_file))
    assert code == 1 and "cannot create the output folder" in err

    raw = EXE_SAMPLE.read_bytes()
    body = next(a for a in engine.scan(raw).artifacts if a.meta.get("body"))
    code, _, _ = _run(capsys, str(EXE_SAMPLE), "--out", str(out), "--id", body.id, "--type", "pe")
    assert code == 0
    zip_path, _ = _outputs(out, raw)
    members = _open(zip_path)
    assert f"{body.sha256}.txt_" in members  # an explicit id takes even a body part
    assert {e["selected_by"][0] for e in json.loads(members["manifest.json"])["artifacts"]} == {"id", "type:pe"}


def test_hostile_names_never_reach_a_path_and_nothing_else_is_written(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exe, dll, script = minimal_pe(), minimal_pe(dll=True), b"WScript.Echo(1);"
    raw = make_message(
        attachments=[
            ("../../etc/passwd", exe, "application/octet-stream"),
            ("報告書\u202efdp.exe", dll, "application/octet-stream"),
            ("..\\..\\Startup\\run.js", script, "text/plain"),
            ("/tmp/evil.ex\u200be", exe[:-1] + b"\x01", "application/octet-stream"),
        ]
    )
    message = tmp_path / "in" / "m.eml"
    message.parent.mkdir()
    message.write_bytes(raw)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)

    code, stdout, _ = _run(capsys, str(message), "--out", "out")
    assert code == 0
    zip_path, manifest_path = _outputs(cwd / "out", raw)
    assert _files(tmp_path) == {
        "in",
        "in/m.eml",
        "cwd",
        "cwd/out",
        f"cwd/out/{zip_path.name}",
        f"cwd/out/{manifest_path.name}",
    }
    members = _open(zip_path)
    names = sorted(n for n in members if n != "manifest.json")
    assert all(MEMBER.fullmatch(n) for n in names)
    assert sorted(n.split(".", 1)[1] for n in names) == [
        "exe_",
        "exe_",
        "exe_",
        "js_",
    ]  # a DLL named .exe is honestly a PE
    # no payload byte in the clear anywhere: the zip is encrypted, the manifest holds facts only
    for path in (zip_path, manifest_path):
        data = path.read_bytes()
        assert exe[:200] not in data and dll[:200] not in data and script not in data
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    assert {e["name"] for e in manifest["artifacts"]} == {
        "../../etc/passwd",
        "報告書\\u202efdp.exe",
        "..\\..\\Startup\\run.js",
        "/tmp/evil.ex\\u200be",
    }
    assert "\u202e" not in stdout and "\u200b" not in stdout


def test_refuses_to_overwrite_without_force(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, _ = _run(capsys, str(EXE_SAMPLE), "--out", str(tmp_path))
    assert code == 0
    zip_path, manifest_path = _outputs(tmp_path, EXE_SAMPLE.read_bytes())
    zip_path.write_bytes(b"an older extraction")
    code, _, err = _run(capsys, str(EXE_SAMPLE), "--out", str(tmp_path))
    assert code == 1 and "--force" in err
    assert zip_path.read_bytes() == b"an older extraction"
    assert _files(tmp_path) == {zip_path.name, manifest_path.name}
    code, _, _ = _run(capsys, str(EXE_SAMPLE), "--out", str(tmp_path), "--force")
    assert code == 0
    assert "manifest.json" in _open(zip_path)
    assert _files(tmp_path) == {zip_path.name, manifest_path.name}


def test_a_failed_write_leaves_no_temporary_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(fh: io.BufferedWriter, members: object, manifest: str) -> None:
        fh.write(b"PK partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(extract_mod, "_write_zip", broken)
    code, _, err = _run(capsys, str(EXE_SAMPLE), "--out", str(tmp_path))
    assert code == 1 and "No space left" in err
    assert _files(tmp_path) == set()


def test_unreadable_member_is_listed_and_its_archive_extracted(tmp_path: Path, engine: Engine) -> None:
    buffer = io.BytesIO()
    with pyzipper.AESZipFile(buffer, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES) as zf:
        zf.setpassword(b"not-in-the-body-7731")
        zf.writestr("invoice.exe", minimal_pe())
    raw = make_message(attachments=[("invoice.zip", buffer.getvalue(), "application/zip")])
    report, blobs = scan_keeping(engine.scan, raw, "m.eml")
    member = next(a for a in report.artifacts if a.name == "invoice.exe")
    archive = next(a for a in report.artifacts if a.name == "invoice.zip")
    assert member.sha256 is None
    by_id = plan(report, Selection(ids=(member.id,)))
    assert by_id.chosen == () and [s.id for s in by_id.skipped] == [member.id]
    default = plan(report, Selection())
    assert [c.artifact.id for c in default.chosen] == [archive.id]
    written = extract_mod.write(tmp_path, report, default, blobs, selection=Selection())
    assert [u["id"] for u in written.manifest["unreadable"]] == [member.id]
    assert hashlib.sha256(_open(written.zip_path)[f"{archive.sha256}.zip_"]).hexdigest() == archive.sha256


def test_engine_keep_hook_sees_every_readable_artifact(engine: Engine) -> None:
    raw = EXE_SAMPLE.read_bytes()
    kept: dict[str, bytes] = {}
    report = engine.scan(raw, name="m.eml", keep=kept.__setitem__)
    plain = engine.scan(raw, name="m.eml")
    assert report.to_dict()["artifacts"] == plain.to_dict()["artifacts"]
    readable = {a.id: a.sha256 for a in report.artifacts if a.sha256 is not None}
    assert {i: hashlib.sha256(d).hexdigest() for i, d in kept.items()} == readable


def test_payload_definition_on_text_pictures_and_unidentified_files(engine: Engine) -> None:
    raw = make_message(
        attachments=[
            ("notes.txt", "議事録です。\n".encode(), "text/plain"),
            ("photo.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png"),
            ("page.html", b"<html><body>hi</body></html>", "text/html"),
        ]
    )
    report, _ = scan_keeping(engine.scan, raw, "m.eml")
    named = {a.name: a for a in report.artifacts if a.name}
    assert not extract_mod.is_payload(report, named["notes.txt"])
    assert not extract_mod.is_payload(report, named["photo.png"])
    assert extract_mod.is_payload(report, named["page.html"])
    # a file the deadline left untyped is not called harmless
    untyped = dataclasses.replace(named["notes.txt"], types=())
    assert extract_mod.is_payload(report, untyped)
    assert extract_mod.member_name(report, untyped).endswith(".txt_")
