"""The janitor deletes only expired groups tagged created-by=gpuconf, and only with --delete."""

from __future__ import annotations

import pytest

from gpuconf.azure import janitor


@pytest.fixture
def seeded(fake_arm, subscription):
    state = fake_arm.fake.state
    old = {"created-by": "gpuconf", "expires-at": "2026-01-01T00:00:00Z", "owner": "ana"}
    state.seed_group(subscription, "gpuconf-old-rg", "eastus", old)
    fresh = {"created-by": "gpuconf", "expires-at": "2099-01-01T00:00:00Z"}
    state.seed_group(subscription, "gpuconf-fresh-rg", "eastus", fresh)
    state.seed_group(
        subscription, "gpuconf-garbled-rg", "eastus", {"created-by": "gpuconf", "expires-at": "soon"}
    )
    state.seed_group(subscription, "someone-elses-rg", "eastus", {"expires-at": "2020-01-01T00:00:00Z"})
    return fake_arm


def run(fake_arm, subscription, *argv):
    environ = {"GPUCONF_ARM_TOKEN": "test-token-not-a-secret", "GPUCONF_ARM_POLL_INTERVAL": "0.005"}
    return janitor.main(["--subscription", subscription, "--arm-endpoint", fake_arm.url, *argv], environ)


def test_dry_run_lists_expired_groups_and_deletes_nothing(seeded, subscription, capsys):
    assert run(seeded, subscription, "--now", "2026-11-28T12:00:00Z") == 0
    out = capsys.readouterr().out
    assert "gpuconf-old-rg\texpires-at=2026-01-01T00:00:00Z\towner=ana\tEXPIRED" in out
    assert "gpuconf-fresh-rg" in out and "active" in out
    assert "unreadable expires-at tag 'soon': left alone" in out
    assert "someone-elses-rg" not in out
    assert "dry run: would delete 1 group(s)" in out
    assert seeded.fake.state.mutating_requests() == []


def test_delete_removes_only_the_expired_gpuconf_group(seeded, subscription, capsys):
    assert run(seeded, subscription, "--delete", "--now", "2026-11-28T12:00:00Z") == 0
    assert [r.path.rsplit("/", 1)[-1] for r in seeded.fake.state.mutating_requests()] == ["gpuconf-old-rg"]
    assert set(seeded.fake.state.groups) == {"gpuconf-fresh-rg", "gpuconf-garbled-rg", "someone-elses-rg"}
    assert "deleted 1 group(s)" in capsys.readouterr().out


def test_a_bad_now_is_a_one_line_usage_error(fake_arm, subscription, capsys):
    with pytest.raises(SystemExit) as exit_:
        run(fake_arm, subscription, "--now", "yesterday")
    assert exit_.value.code == 2
    assert "--now: not an ISO time: 'yesterday'" in capsys.readouterr().err
