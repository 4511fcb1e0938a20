"""Every expected gateway failure is a GatewayError carrying the HTTP status it answers with."""

from __future__ import annotations

import pytest

from gateway.access.onboarding import OnboardingError
from gateway.errors import GatewayError
from gateway.ingest.bounded_json import JsonLimitError
from gateway.ingest.pipeline import ContentHashMismatch, TapeRejected, TapeSuperseded
from gateway.ingest.pool_settings import PoolSettingsError
from gateway.ingest.tape_formats import TapeMalformed, TapeTooLarge
from gateway.keys.gateway_key import GatewayKeyError
from gateway.keys.key_files import KeyManagementError
from gateway.keys.keyring import KeyringError
from gateway.keys.tape_signatures import TapeSignatureError
from gateway.snapshots.demo import DemoFailed
from gateway.snapshots.disclosure import ClaimRefused
from gateway.snapshots.seal_jobs import SealError
from gateway.storage.records import Conflict, NotFound, StorageError

STATUSES: list[tuple[type[GatewayError], int]] = [
    (StorageError, 404),
    (NotFound, 404),
    (Conflict, 409),
    (TapeRejected, 422),
    (TapeMalformed, 400),
    (TapeTooLarge, 413),
    (ContentHashMismatch, 400),
    (TapeSuperseded, 409),
    (JsonLimitError, 400),
    (PoolSettingsError, 422),
    (OnboardingError, 422),
    (TapeSignatureError, 403),
    (KeyringError, 503),
    (GatewayKeyError, 503),
    (KeyManagementError, 500),
    (SealError, 422),
    (ClaimRefused, 403),
    (DemoFailed, 500),
]


@pytest.mark.parametrize(("cls", "status"), STATUSES, ids=[c.__name__ for c, _ in STATUSES])
def test_error_derives_from_the_root_with_its_status(cls: type[GatewayError], status: int) -> None:
    assert issubclass(cls, GatewayError)
    assert cls.http_status == status


def test_value_errors_stay_value_errors() -> None:
    for cls in (OnboardingError, PoolSettingsError, JsonLimitError):
        assert issubclass(cls, ValueError)


def test_message_and_str_are_what_was_raised() -> None:
    err = NotFound("pool p-1 does not exist")
    assert str(err) == err.message == "pool p-1 does not exist"
    assert err.errors is None


def test_a_subclass_keeps_its_own_message_beside_str() -> None:
    err = TapeMalformed(7, "not a JSON object")
    assert str(err) == "row 7: not a JSON object"
    assert err.message == "not a JSON object"
    assert err.row == 7
