"""The [gateway] policy: validation at start-up, site overrides, and the decision for each outcome."""

from __future__ import annotations

from pathlib import Path

import pytest

from triage.config import load_config
from triage.errors import ConfigError
from triage.gateway.policy import Action, FailAction, FailureKind, GatewayPolicy, decide, parse_gateway
from triage.model import InputInfo, Iocs, Level, MessageInfo, Report, Score, Verdict


def _report(level: Level) -> Report:
    return Report(
        input=InputInfo(name=None, size=0, sha256=""),
        message=MessageInfo(),
        artifacts=(),
        findings=(),
        notes=(),
        iocs=Iocs(),
        score=Score(total=1.0),
        verdict=Verdict(level=level, complete=True),
    )


def test_shipped_policy_loads() -> None:
    policy = load_config().scoring.gateway
    assert policy.malicious is Action.QUARANTINE
    assert policy.on_error is FailAction.ACCEPT and policy.on_timeout is FailAction.ACCEPT
    assert policy.deadline_seconds > 0 and policy.workers >= 1


def test_site_file_overrides_the_shipped_policy(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text('[gateway]\nmalicious = "reject"\non_timeout = "tempfail"\nworkers = 4\n')
    policy = load_config(site).scoring.gateway
    assert policy.malicious is Action.REJECT and policy.on_timeout is FailAction.TEMPFAIL and policy.workers == 4
    assert policy.suspicious is load_config().scoring.gateway.suspicious  # untouched keys keep the shipped value


@pytest.mark.parametrize(
    "body",
    [
        {"malicious": "drop"},
        {"on_error": "reject"},  # a failure may only accept or tempfail: never lose mail
        {"unknown_key": 1},
        {"workers": 0},
        {"deadline_seconds": "20"},
        {"worker_memory_mb": 64},
        {"reject_reason": "line\r\nX-Injected: 1"},
        {"reject_reason": "日本語"},
        {"reject_reason": "100% sure"},
        {"subject_prefix": {"dangerous": "[x]"}},
        {"subject_prefix": "[x]"},
        {"max_message_size": True},
    ],
)
def test_bad_values_fail_at_start(body: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        parse_gateway(body, "test")


def test_bad_site_value_fails_at_load(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text('[gateway]\nclean = "maybe"\n')
    with pytest.raises(ConfigError):
        load_config(site)


def test_decisions_per_verdict() -> None:
    policy = GatewayPolicy(
        clean=Action.ACCEPT,
        suspicious=Action.TAG,
        malicious=Action.REJECT,
        subject_prefix={"suspicious": "[S] "},
    )
    clean = decide(policy, _report(Level.CLEAN), None)
    assert clean.action is Action.ACCEPT and not clean.headers and clean.reply is None
    suspicious = decide(policy, _report(Level.SUSPICIOUS), None)
    assert suspicious.action is Action.TAG and suspicious.subject_prefix == "[S] "
    assert [name for name, _ in suspicious.headers] == ["X-Triage-Verdict", "X-Triage-Score", "X-Triage-Findings"]
    malicious = decide(policy, _report(Level.MALICIOUS), None)
    assert malicious.reply == ("550", "5.7.1", policy.reject_reason) and not malicious.headers
    held = decide(GatewayPolicy(), _report(Level.MALICIOUS), None)
    assert held.action is Action.QUARANTINE and held.headers


@pytest.mark.parametrize("kind", list(FailureKind))
def test_every_failure_kind_gets_the_same_treatment(kind: FailureKind) -> None:
    accept = decide(GatewayPolicy(), None, kind)
    assert accept.action is Action.ACCEPT and accept.failure is kind
    assert accept.headers[0][0] == "X-Triage-Error" and accept.headers[0][1].startswith(kind.value)
    strict = GatewayPolicy(
        on_error=FailAction.TEMPFAIL, on_timeout=FailAction.TEMPFAIL, on_too_large=FailAction.TEMPFAIL
    )
    tempfail = decide(strict, None, kind)
    assert tempfail.action is Action.TEMPFAIL and tempfail.reply is not None and tempfail.reply[0] == "451"


def test_check_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from triage.frontends.cli import main

    assert main(["milter", "--check-config"]) == 0
    assert "configuration OK" in capsys.readouterr().out
    site = tmp_path / "site.toml"
    site.write_text('[gateway]\nmalicious = "explode"\n')
    assert main(["milter", "--check-config", "--config", str(site)]) == 2
    assert "gateway.malicious" in capsys.readouterr().err
    assert main(["milter", "--check-config", "--engine-factory", "no.such.module:make"]) == 2
