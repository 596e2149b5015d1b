"""The private-address guard: which hosts deployd connects to on a user's behalf."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chalicelib.adapters import addresses, git
from chalicelib.errors import InvalidInput


@pytest.fixture
def on_aws(settings_env: Callable[..., None]) -> None:
    """The default, as on AWS: private addresses are not allowed."""
    settings_env(DEPLOYD_ALLOW_PRIVATE_ADDRESSES=None)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/site.git", "loopback"),
        ("http://localhost:8080/site.git", "loopback"),  # a name: resolved, and its address checked
        ("http://2130706433/site.git", "loopback"),  # decimal 127.0.0.1
        ("http://0177.0.0.1/site.git", "loopback"),  # octal
        ("http://0x7f.1/site.git", "loopback"),  # hexadecimal, short form
        ("http://[::1]/site.git", "loopback"),
        ("http://[::ffff:127.0.0.1]/site.git", "loopback"),  # IPv4-mapped IPv6
        ("http://[::ffff:169.254.169.254]/latest/meta-data", "link-local (cloud metadata)"),
        ("http://[2002:a00:1::]/site.git", "private"),  # 6to4 carrying 10.0.0.1
        ("https://10.1.2.3/site.git", "private"),
        ("https://172.16.0.9/site.git", "private"),
        ("https://192.168.1.1/site.git", "private"),
        ("https://[fd12:3456::1]/site.git", "private"),  # fc00::/7
        ("http://169.254.169.254/latest/meta-data/", "link-local (cloud metadata)"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "cloud metadata"),
        ("http://[fe80::1]/site.git", "link-local"),
        ("git://100.64.0.1/site.git", "shared (carrier-grade NAT)"),
        ("git://0.0.0.0/site.git", "unspecified"),
        ("git://[::]/site.git", "unspecified"),
        ("git://224.0.0.1/site.git", "multicast"),
        ("git://[ff02::1]/site.git", "multicast"),
        ("git://240.0.0.1/site.git", "reserved"),
        ("ssh://git@127.0.0.1/site.git", "loopback"),
        ("git@127.0.0.1:org/site.git", "loopback"),  # scp-like
    ],
)
def test_non_public_addresses_are_refused_with_their_kind(on_aws: None, url: str, reason: str) -> None:
    # When a URL naming (or resolving to) a non-public address is checked
    with pytest.raises(addresses.NonPublicAddress) as refused:
        addresses.ensure_public_url(url, field="repo_url")

    # Then it is refused, naming the field and the kind of address, as invalid input
    assert isinstance(refused.value, InvalidInput)
    assert refused.value.field == "repo_url"
    assert refused.value.message.endswith(f" {reason} address")


@pytest.mark.parametrize(
    "url",
    ["https://8.8.8.8/site.git", "https://[2606:4700::1111]/site.git", "git://1.1.1.1/site.git"],
)
def test_public_addresses_pass(on_aws: None, url: str) -> None:
    assert addresses.ensure_public_url(url, field="webhook_url") == url


def test_every_address_a_name_resolves_to_is_checked(on_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a name that resolves to a public and a private address
    def getaddrinfo(host: str, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        return [(2, 1, 6, "", ("8.8.8.8", 0)), (2, 1, 6, "", ("10.0.0.5", 0))]

    monkeypatch.setattr(addresses.socket, "getaddrinfo", getaddrinfo)

    # Then the name is refused: any of its addresses could be the one connected to
    with pytest.raises(addresses.NonPublicAddress):
        addresses.ensure_public_url("https://mixed.example/site.git", field="repo_url")


def test_the_embedded_stack_setting_allows_private_addresses(settings_env: Callable[..., None]) -> None:
    settings_env(DEPLOYD_ALLOW_PRIVATE_ADDRESSES="true")
    assert addresses.ensure_public_url("http://127.0.0.1:9/site.git", field="repo_url")


def test_a_repository_url_on_a_private_address_is_invalid_input_by_default(on_aws: None) -> None:
    # When a project's repo_url names the metadata service
    with pytest.raises(InvalidInput) as refused:
        git.validate_repo_url("http://169.254.169.254/latest/meta-data/")

    # Then it is refused, pointing at repo_url
    assert refused.value.field == "repo_url"
    assert "public address" in refused.value.message


def test_a_name_that_does_not_resolve_passes_validation(on_aws: None) -> None:
    # There is nothing to connect to; every connection checks again when it is made
    assert git.validate_repo_url("https://no-such-host.invalid/site.git") == "https://no-such-host.invalid/site.git"
