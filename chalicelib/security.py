"""The producer credential: who may POST events.

Readers need no credential; producers send ``Authorization: Bearer <token>``.
The token comes from INGEST_TOKEN locally, or from a Secrets Manager secret
(INGEST_TOKEN_SECRET_ARN) in the cloud, re-read every few minutes so a
rotation takes effect without a deploy. Comparison is constant-time.
"""

import hmac
import time
from collections.abc import Callable, Mapping
from typing import Any

try:  # Chalice's local gateway answers this exception with API Gateway's own 401.
    from chalice.local import NotAuthorizedError as _Unauthorized
except ImportError:  # in Lambda, where chalice.local is not packaged
    _Unauthorized = Exception  # type: ignore[assignment,misc]  # mypy cannot type a conditional base class

SECRET_TTL_SECONDS = 300.0


class Unauthorized(_Unauthorized):
    """Raised by the authorizer: API Gateway and ``chalice local`` both answer 401.

    API Gateway turns a Lambda authorizer error whose message is exactly
    "Unauthorized" into 401; Chalice's local gateway does the same for its
    NotAuthorizedError. Denying by policy would give 403 instead.
    """

    def __init__(self) -> None:
        if _Unauthorized is Exception:
            Exception.__init__(self, "Unauthorized")
        else:
            super().__init__({"x-amzn-ErrorType": "UnauthorizedException"}, b'{"message":"Unauthorized"}')


class IngestToken:
    """The expected token, read lazily and cached (secrets for a few minutes)."""

    def __init__(
        self, environ: Mapping[str, str], secrets_client: Callable[[], Any], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._environ, self._secrets_client, self._clock = environ, secrets_client, clock
        self._cached: tuple[str | None, float] | None = None

    def current(self) -> str | None:
        if self._environ.get("INGEST_TOKEN"):
            return self._environ["INGEST_TOKEN"]
        arn = self._environ.get("INGEST_TOKEN_SECRET_ARN")
        if not arn:
            return None
        if self._cached is None or self._clock() >= self._cached[1]:
            secret = self._secrets_client().get_secret_value(SecretId=arn)["SecretString"]
            self._cached = (secret, self._clock() + SECRET_TTL_SECONDS)
        return self._cached[0]


def check_bearer(header: str | None, expected: str | None) -> None:
    """Raise Unauthorized unless the header carries the expected token."""
    scheme, _, provided = (header or "").partition(" ")
    valid = expected is not None and scheme.lower() == "bearer"
    # compare even when already invalid, so timing says nothing about the token
    if not hmac.compare_digest(provided.strip().encode(), (expected or "\0").encode()) or not valid:
        raise Unauthorized()
