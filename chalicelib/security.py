"""The producer credential: who may POST events.

Readers need no credential; producers send ``Authorization: Bearer <token>``.
The token comes from INGEST_TOKEN locally, or from a Secrets Manager secret
(INGEST_TOKEN_SECRET_ARN) in the cloud: its current and previous versions,
re-read every few minutes, so a rotation takes effect without a deploy and
refuses nobody meanwhile. Comparison is constant-time.
"""

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

try:  # Chalice's local gateway answers this exception with API Gateway's own 401.
    from chalice.local import NotAuthorizedError as _Unauthorized
except ImportError:  # in Lambda, where chalice.local is not packaged
    _Unauthorized = Exception  # type: ignore[assignment,misc]  # mypy cannot type a conditional base class

SECRET_TTL_SECONDS = 300.0
SECRET_STAGES = ("AWSCURRENT", "AWSPREVIOUS")
MAX_TOKEN_CHARS = 512


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
    """The tokens a producer may show, read lazily and cached (secrets for a few minutes).

    In the cloud the secret's current and previous versions are both accepted, so a rotation refuses
    nobody while warm containers still hold the old one. A stored value is stripped (a trailing newline
    from an editor would lock every producer out) and one that is empty or holds whitespace is no token.
    """

    def __init__(
        self, environ: Mapping[str, str], secrets_client: Callable[[], Any], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._environ, self._secrets_client, self._clock = environ, secrets_client, clock
        self._cached: tuple[tuple[str, ...], float] | None = None

    def accepted(self) -> tuple[str, ...]:
        local = _token(self._environ.get("INGEST_TOKEN"))
        if local:
            return (local,)
        arn = self._environ.get("INGEST_TOKEN_SECRET_ARN")
        if not arn:
            return ()
        if self._cached is None or self._clock() >= self._cached[1]:
            tokens = tuple(t for stage in SECRET_STAGES if (t := _token(self._secret(arn, stage))))
            self._cached = (tokens, self._clock() + SECRET_TTL_SECONDS)
        return self._cached[0]

    def _secret(self, arn: str, stage: str) -> str | None:
        client = self._secrets_client()
        try:
            return str(client.get_secret_value(SecretId=arn, VersionStage=stage)["SecretString"])
        except client.exceptions.ResourceNotFoundException:
            return None  # a secret never rotated has no previous version


def _token(value: str | None) -> str | None:
    token = (value or "").strip()
    return token if token and len(token) <= MAX_TOKEN_CHARS and not any(c.isspace() for c in token) else None


def fingerprint(token: str) -> str:
    """What a connection keeps of the token it showed: enough to tell whether it is still accepted."""
    return hashlib.sha256(token.encode()).hexdigest()


def still_accepted(token_fingerprint: str, accepted: Callable[[], Sequence[str]]) -> bool:
    """Whether the token behind ``token_fingerprint`` is one of those accepted now (rotated out: no)."""
    return any([hmac.compare_digest(token_fingerprint, fingerprint(token)) for token in accepted()])


def check_bearer(header: str | None, accepted: Callable[[], Sequence[str]]) -> str:
    """The token the header carries, or Unauthorized unless it is one of the accepted tokens (read only once
    a header names a bearer token, so a subscriber's connect costs no secret fetch)."""
    scheme, _, provided = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not provided.strip():
        raise Unauthorized()
    tokens = accepted()
    # compare with every candidate, so timing says nothing about which one, or how much of it, matched
    matches = [hmac.compare_digest(provided.strip().encode(), token.encode()) for token in tokens or ("\0",)]
    if not any(matches) or not tokens:
        raise Unauthorized()
    return provided.strip()
