"""GitHub hooks' rules without the stack: which targets a hook may have, insecure_ssl, and the ids a delivery is
known by."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chalicelib.errors import FieldRejected
from chalicelib.models.webhook import Webhook
from chalicelib.models.webhook_delivery import github_delivery_number, github_guid
from chalicelib.services import github_hooks
from chalicelib.services.inputs import GithubHookConfig
from chalicelib.services.webhook_delivery import verifies_tls


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:9000/hook", "https://10.0.0.7/hook"],
)
def test_a_private_target_is_githubs_422_on_url(settings_env: Callable[..., None], url: str) -> None:
    # Given deployd as on AWS: private targets not allowed
    settings_env(DEPLOYD_WEBHOOK_ALLOW_PRIVATE_TARGETS="false")

    # When a hook's config names a loopback, private or metadata address
    with pytest.raises(FieldRejected) as refused:
        github_hooks.checked_config(GithubHookConfig(url=url, secret="a-secret-long-enough"))

    # Then it is refused as GitHub refuses a field: a Hook's url, invalid
    assert (refused.value.resource, refused.value.field, refused.value.problem) == ("Hook", "url", "invalid")


def test_delivery_ids_are_stable_and_differ_between_hooks() -> None:
    # Given one message id told to two hooks
    message = "msg_000000000042_000003"

    # Then each hook has its own GUID for it, the same every time, and an integer id a JavaScript client reads exactly
    assert github_guid(7, message) == github_guid(7, message) != github_guid(8, message)
    number = github_delivery_number(7, message)
    assert number == github_delivery_number(7, message) and 0 < number < 2**53


def test_insecure_ssl_is_0_or_1_and_1_turns_certificate_checks_off(settings_env: Callable[..., None]) -> None:
    # Given deployd allowing local receivers, as the embedded stack does
    settings_env(DEPLOYD_WEBHOOK_ALLOW_PRIVATE_TARGETS="true")

    # When a hook's config says insecure_ssl 1, 0, or something else
    insecure = github_hooks.checked_config(GithubHookConfig(url="https://127.0.0.1:8443/h", insecure_ssl=1))
    secure = github_hooks.checked_config(GithubHookConfig(url="https://127.0.0.1:8443/h"))
    with pytest.raises(FieldRejected) as refused:
        github_hooks.checked_config(GithubHookConfig(url="https://127.0.0.1:8443/h", insecure_ssl="2"))

    # Then 1 is kept and its deliveries skip the certificate check, 0 (the default) checks it, others are a 422
    assert (insecure.insecure_ssl, secure.insecure_ssl) == ("1", "0")
    assert refused.value.field == "insecure_ssl"
    hook = Webhook(dialect="github", dialect_options={"insecure_ssl": insecure.insecure_ssl})
    assert verifies_tls(hook) is False
    assert verifies_tls(Webhook(dialect="github", dialect_options={"insecure_ssl": "0"})) is True
