"""WebhookClient: signed POSTs a receiver can verify, the outbound guard in front, answers translated."""

from __future__ import annotations

import pytest

from api.errors import WebhookError
from api.integrations.outbound import OutboundGuard, OutboundSettings
from api.integrations.webhooks.client import WebhookClient, sign, verify
from api.integrations.webhooks.settings import WebhookSettings


def _client(*, allow_private: bool) -> WebhookClient:
    return WebhookClient(WebhookSettings(timeout_s=5.0, _env_file=None),
                         guard=OutboundGuard(OutboundSettings(allow_private=allow_private, _env_file=None)))


async def test_a_signed_post_is_accepted_once(receiver):
    body = b'{"event":{"kind":"created"}}'
    client = _client(allow_private=True)
    sent = await client.post(url=receiver.url, body=body, secret=receiver.receiver.secret, delivery_key="dlv_1",
                             event="created")
    again = await client.post(url=receiver.url, body=body, secret=receiver.receiver.secret, delivery_key="dlv_1",
                              event="created")
    assert (sent.http_status, again.http_status) == (200, 200)
    assert list(receiver.receiver.accepted) == ["dlv_1"] and all(s.signature_ok for s in receiver.receiver.seen)


async def test_the_guard_refuses_private_receivers_for_good(receiver):
    with pytest.raises(WebhookError, match="private or loopback") as refused:
        await _client(allow_private=False).post(url=receiver.url, body=b"{}", secret="s", delivery_key="k",
                                                event="created")
    assert refused.value.permanent and receiver.receiver.seen == []


@pytest.mark.parametrize(("answer", "permanent"), [(500, False), (429, False), (410, True), (301, True)])
async def test_answers_are_translated(receiver, answer, permanent):
    receiver.receiver.answers = [answer]
    with pytest.raises(WebhookError) as failed:
        await _client(allow_private=True).post(url=receiver.url, body=b"{}", secret=receiver.receiver.secret,
                                               delivery_key="dlv_2", event="created")
    assert (failed.value.http_status, failed.value.permanent) == (answer, permanent)


def test_signatures_verify_and_expire():
    body = b'{"x":1}'
    signature = sign("whsec_a", 1_767_603_600, body)
    assert verify("whsec_a", body=body, timestamp="1767603600", signature=signature, now=1_767_603_700)
    assert not verify("whsec_b", body=body, timestamp="1767603600", signature=signature, now=1_767_603_700)
    assert not verify("whsec_a", body=body, timestamp="1767603600", signature=signature, now=1_767_604_000)
