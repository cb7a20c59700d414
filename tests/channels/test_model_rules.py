"""Channel errors: each carries the channel and the detail callers log and show."""

from __future__ import annotations

import pytest

from paycore.channels.model import (
    BadNotification,
    ChannelError,
    ChannelTimeout,
    ChannelUnavailable,
)
from paycore.errors import PaycoreError


@pytest.mark.parametrize("kind", [ChannelError, ChannelUnavailable, ChannelTimeout])
def test_a_channel_error_keeps_its_channel_and_detail_and_names_both_in_its_text(
    kind: type[ChannelError],
) -> None:
    error = kind("sandbox", "connection refused")

    assert isinstance(error, PaycoreError)
    assert (error.channel, error.detail) == ("sandbox", "connection refused")
    assert str(error) == "sandbox: connection refused"


def test_a_bad_notification_keeps_its_code_channel_and_detail() -> None:
    error = BadNotification("sandbox", "bad_signature", "the signature does not verify")

    assert isinstance(error, ChannelError)
    assert error.code == "bad_signature"
    assert (error.channel, error.detail) == ("sandbox", "the signature does not verify")
    # The code is for machines; the text people read is the channel and the detail.
    assert str(error) == "sandbox: the signature does not verify"
