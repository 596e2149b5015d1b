"""The rules of a deploy hook's URL and of a call's title, without AWS: what the URL holds and shows, where
Netlify's trigger_title is read from, and which titles are refused."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from chalicelib.api.hooks import trigger_title
from chalicelib.errors import InvalidInput
from chalicelib.services import deploy_hooks


def test_a_secret_has_at_least_128_random_bits_and_only_its_digest_names_the_hook() -> None:
    secrets = {deploy_hooks.new_secret() for _ in range(100)}
    assert len(secrets) == 100
    for secret in secrets:
        token = secret.removeprefix(deploy_hooks.SECRET_PREFIX)
        assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) * 8 >= 128
        assert deploy_hooks.digest(secret) == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in deploy_hooks.digest(secret)


def test_the_url_is_whole_only_with_its_secret() -> None:
    assert (
        deploy_hooks.hook_url("https://api.example.com/", "dh_abc")
        == "https://api.example.com/api/v1/hooks/deploy/dh_abc"
    )
    masked = deploy_hooks.hook_url("https://api.example.com", None)
    assert masked.startswith("https://api.example.com/api/v1/hooks/deploy/") and masked.endswith("*" * 16)


@pytest.mark.parametrize(
    ("query", "content_type", "body", "expected"),
    [
        ({}, "", b"", None),  # no body at all: a cron job's curl -X POST
        ({"trigger_title": "from the query"}, "", b"", "from the query"),
        ({}, "application/x-www-form-urlencoded", b"trigger_title=Published+post&x=1", "Published post"),
        ({}, "application/json", b'{"trigger_title": "from JSON"}', "from JSON"),
        ({}, "application/vnd.contentful.management.v1+json", b'{"sys": {"id": "1"}}', None),  # a CMS's payload
        ({}, "application/json", b"[1, 2]", None),
        ({}, "application/json", b"not json", None),
        ({}, "text/plain", b"trigger_title=ignored", None),
        ({"trigger_title": "query wins"}, "application/json", b'{"trigger_title": "body"}', "query wins"),
    ],
)
def test_the_title_is_read_from_the_query_a_form_or_a_json_object(
    query: dict[str, str], content_type: str, body: bytes, expected: str | None
) -> None:
    assert trigger_title(query, content_type, body) == expected


@pytest.mark.parametrize(
    "body",
    [b'{"trigger_title": 3}', b'{"trigger_title": "' + b"x" * 501 + b'"}', b'{"trigger_title": "a\\u0000b"}'],
)
def test_a_title_that_is_not_short_plain_text_is_refused(body: bytes) -> None:
    with pytest.raises(InvalidInput) as refused:
        trigger_title({}, "application/json", body)
    assert refused.value.field == "trigger_title"


def test_a_url_is_looked_up_the_same_way_whether_a_hook_has_it_or_not(
    tables: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.errors import NotFound
    from chalicelib.models.deploy_hook import DeployHook, DeployHookRepository

    # Given a hook, stored under the digest of its secret
    secret = deploy_hooks.new_secret()
    DeployHookRepository.create(
        DeployHook(digest=deploy_hooks.digest(secret), org_slug="acme", project_id=1, name="cms", branch="main")
    )
    reads: list[tuple[object, ...]] = []
    real_get = DeployHook.get

    def recorded(hash_key: str, *args: Any, **kwargs: Any) -> DeployHook:
        reads.append((len(hash_key), args, tuple(sorted(kwargs.items()))))
        return real_get(hash_key, *args, **kwargs)

    monkeypatch.setattr(DeployHook, "get", recorded)

    # When its URL, a URL no hook has and a malformed one are looked up
    assert deploy_hooks.find(secret).name == "cms"
    for unknown in (deploy_hooks.new_secret(), "x"):
        with pytest.raises(NotFound) as missing:
            deploy_hooks.find(unknown)
        assert missing.value.message == "deploy hook not found"

    # Then each was one consistent read of a digest of the same length, nothing else: no scan, no early exit
    assert len(reads) == 3 and len(set(reads)) == 1
    assert reads[0] == (64, (), (("consistent_read", True),))
