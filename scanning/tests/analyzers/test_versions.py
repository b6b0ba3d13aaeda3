"""Version comparison per ecosystem, OSV range evaluation and CVSS scoring (pure functions)."""

from __future__ import annotations

import pytest

from scanning.analyzers.cvss import CvssError, score_vector
from scanning.analyzers.versions import (
    VersionError,
    best_fix,
    compare,
    describe_ranges,
    in_range,
    normalize_name,
    osv_affected,
    sort_versions,
)


def ordered(ecosystem: str, versions: list[str]) -> None:
    for low, high in zip(versions, versions[1:], strict=False):
        assert compare(ecosystem, low, high) == -1, (low, high)
        assert compare(ecosystem, high, low) == 1, (high, low)


def test_pep440_order_with_pre_post_dev_and_epochs() -> None:
    ordered("pypi", ["1.0.dev1", "1.0a1", "1.0a2", "1.0b1", "1.0rc1", "1.0", "1.0.post1", "1.0.1", "1.1", "1!0.1"])
    assert compare("pypi", "1.0", "1.0.0") == 0
    assert compare("pypi", "2.0+local.1", "2.0") == 1


def test_semver_precedence_with_prereleases() -> None:
    ordered("npm", ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
                    "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.10.0", "2.0.0"])
    assert compare("npm", "1.0.0+build.5", "1.0.0") == 0
    assert compare("npm", "v1.2.3", "1.2.3") == 0


def test_debian_epochs_tildes_and_revisions() -> None:
    ordered("debian", ["1.0~rc1-1", "1.0-1~bpo11+1", "1.0-1", "1.0-1+deb12u1", "1.0-2", "1.0a-1", "1.0.1-1",
                       "1:0.9-1"])
    assert compare("debian", "1.0", "1.0-0") == 0
    assert compare("debian", "2.30-1", "2.30-1+deb12u1") == -1
    assert compare("debian", "7.88.1-10+deb12u5", "7.88.1-10+deb12u12") == -1


def test_rpm_release_parts_tilde_and_caret() -> None:
    ordered("rpm", ["1.0~rc1-1", "1.0-1.el8", "1.0-1.el8_1", "1.0-2.el8", "1.0^git1-1", "1.0.1-1", "1:0.5-1"])
    assert compare("rpm", "3.0.7-24.el9", "3.0.7-25.el9") == -1
    assert compare("rpm", "1.0a", "1.0") == 1  # an extra alphanumeric segment is newer
    assert compare("rpm", "1.0", "1.0-5") == 0  # no release on one side: releases are not compared
    assert compare("rpm", "2.10-1", "2.9-1") == 1  # numeric segments compare as numbers


def test_alpine_suffixes_and_revisions() -> None:
    ordered("alpine", ["1.2.3_alpha1", "1.2.3_beta2", "1.2.3_pre1", "1.2.3_rc1", "1.2.3_rc2", "1.2.3", "1.2.3-r1",
                       "1.2.3_p1", "1.2.3a", "1.2.4", "1.10.0"])
    assert compare("alpine", "3.0.8-r0", "3.0.10-r0") == -1


def test_invalid_versions_raise() -> None:
    for ecosystem, version in (("pypi", "not a version"), ("npm", "1.2"), ("debian", "abc"), ("alpine", "1.2.3-x")):
        with pytest.raises(VersionError):
            compare(ecosystem, version, "1.0.0")


def test_sort_and_name_normalisation() -> None:
    assert sort_versions("debian", ["1.0-1", "1.0~b1-1", "1:0.1"]) == ["1.0~b1-1", "1.0-1", "1:0.1"]
    assert normalize_name("pypi", "Python_Dateutil") == "python-dateutil"
    assert normalize_name("npm", "@Scope/Pkg") == "@scope/pkg"


def ecosystem_range(*events: dict[str, str]) -> dict:
    return {"type": "ECOSYSTEM", "events": list(events)}


def test_osv_introduced_zero_and_fixed() -> None:
    r = ecosystem_range({"introduced": "0"}, {"fixed": "2.31.0"})
    assert in_range("pypi", "0.1", r)
    assert in_range("pypi", "2.31.0rc1", r)  # a pre-release of the fix is still affected
    assert not in_range("pypi", "2.31.0", r)
    assert not in_range("pypi", "3.0", r)


def test_osv_last_affected_and_multiple_intervals() -> None:
    r = ecosystem_range({"introduced": "1.0.0"}, {"last_affected": "1.4.2"}, {"introduced": "2.0.0"}, {"fixed": "2.1.0"})
    assert not in_range("npm", "0.9.0", r)
    assert in_range("npm", "1.4.2", r)
    assert not in_range("npm", "1.4.3", r)
    assert not in_range("npm", "1.9.9", r)
    assert in_range("npm", "2.0.5", r)
    assert not in_range("npm", "2.1.0", r)


def test_osv_semver_range_with_prerelease_and_limit() -> None:
    r = {"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "4.17.21"}]}
    assert in_range("npm", "4.17.21-beta.1", r)
    assert not in_range("npm", "4.17.21", r)
    limited = ecosystem_range({"introduced": "0"}, {"limit": "2.0.0"})
    assert in_range("npm", "1.9.9", limited)
    assert not in_range("npm", "2.0.0", limited)


def test_osv_distro_ranges() -> None:
    deb = ecosystem_range({"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"})
    assert in_range("debian", "3.0.11-1~deb12u1", deb)
    assert not in_range("debian", "3.0.11-1~deb12u2", deb)
    assert not in_range("debian", "3.0.11-1", deb)  # the tilde release sorts before the plain one
    rpm = ecosystem_range({"introduced": "0"}, {"fixed": "1:3.0.7-25.el9"})
    assert in_range("rpm", "1:3.0.7-24.el9", rpm)
    assert not in_range("rpm", "1:3.0.7-25.el9_3", rpm)
    assert in_range("rpm", "3.0.7-27.el9", rpm)  # epoch 0 < epoch 1
    apk = ecosystem_range({"introduced": "0"}, {"fixed": "3.1.4-r5"})
    assert in_range("alpine", "3.1.4-r4", apk)
    assert not in_range("alpine", "3.1.4_p1-r0", apk)


def test_explicit_versions_and_git_ranges() -> None:
    git = {"type": "GIT", "repo": "https://example.test/x.git", "events": [{"introduced": "0"}, {"fixed": "abc"}]}
    assert not in_range("pypi", "1.0", git)
    assert osv_affected("pypi", "1.0", [git], ["0.9", "1.0.0"])  # 1.0 == 1.0.0 under PEP 440
    assert not osv_affected("pypi", "1.1", [git], ["0.9", "1.0.0"])
    assert osv_affected("npm", "not-semver", [], ["not-semver"])


def test_unparseable_versions_never_match_a_range() -> None:
    assert not in_range("pypi", "garbage version", ecosystem_range({"introduced": "0"}, {"fixed": "1.0"}))


def test_describe_and_best_fix() -> None:
    ranges = [ecosystem_range({"introduced": "1.0"}, {"fixed": "1.4.2"}, {"introduced": "2.0"}, {"fixed": "2.0.3"})]
    assert describe_ranges(ranges) == ">= 1.0, < 1.4.2; >= 2.0, < 2.0.3"
    assert describe_ranges([ecosystem_range({"introduced": "0"}, {"last_affected": "3"})]) == "<= 3"
    assert best_fix("pypi", "2.0.1", ["1.4.2", "2.0.3"]) == "2.0.3"
    assert best_fix("pypi", "1.2", ["2.0.3", "1.4.2"]) == "1.4.2"
    assert best_fix("pypi", "3.0", ["1.4.2"]) is None


@pytest.mark.parametrize(("vector", "score", "severity"), [
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, "critical"),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0, "critical"),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1, "medium"),
    ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8, "high"),
    ("CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9, "medium"),
    ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6, "low"),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0, "info"),
    ("AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5, "high"),
    ("AV:N/AC:M/Au:N/C:N/I:P/A:N", 4.3, "medium"),
])
def test_cvss_base_scores(vector: str, score: float, severity: str) -> None:
    result = score_vector(vector)
    assert (result.score, result.severity) == (score, severity)


@pytest.mark.parametrize("vector", ["CVSS:3.1/AV:N/AC:L", "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                                    "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "nonsense"])
def test_cvss_rejects_malformed_and_v4(vector: str) -> None:
    with pytest.raises(CvssError):
        score_vector(vector)
