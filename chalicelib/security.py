"""The producer credential: who may POST events, and for which matches.

Readers need no credential; producers send ``Authorization: Bearer <token>``.
Each token names a producer: a provider and the match_id prefixes it may
write (``INGEST_TOKENS``, JSON ``{"<token>": {"provider", "match_prefixes"}}``);
``INGEST_TOKEN`` is one unscoped producer named ``default``. In the cloud the
same value lives in a Secrets Manager secret (INGEST_TOKEN_SECRET_ARN): its
current and previous versions, re-read every few minutes, so a rotation takes
effect without a deploy and refuses nobody meanwhile. Comparison is
constant-time.
"""

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from chalicelib import jsontext
from chalicelib.errors import ForbiddenMatch
from chalicelib.observability import logger
from chalicelib.records import DEFAULT_PROVIDER, PROVIDER

try:  # Chalice's local gateway answers this exception with API Gateway's own 401.
    from chalice.local import NotAuthorizedError as _Unauthorized
except ImportError:  # in Lambda, where chalice.local is not packaged
    _Unauthorized = Exception  # type: ignore[assignment,misc]  # mypy cannot type a conditional base class

SECRET_TTL_SECONDS = 300.0
SECRET_STAGES = ("AWSCURRENT", "AWSPREVIOUS")
MAX_TOKEN_CHARS = 512
MAX_PREFIXES = 100
_TOKEN = re.compile(rf"[!-~]{{1,{MAX_TOKEN_CHARS}}}")  # printable ASCII, no space: what a header carries intact
# API Gateway refuses any other Authorization header with 401 before the authorizer runs (infra.stack).
IDENTITY_VALIDATION_EXPRESSION = rf"^[Bb][Ee][Aa][Rr][Ee][Rr] [!-~]{{1,{MAX_TOKEN_CHARS}}}$"


@attrs.frozen
class Producer:
    """Who a token speaks for: a provider, and the match_id prefixes it may write (None: every match)."""

    provider: str
    match_prefixes: tuple[str, ...] | None = None

    def forbidden(self, match_ids: Iterable[str]) -> list[str]:
        """The match ids, sorted, this producer may not write."""
        if self.match_prefixes is None:
            return []
        return sorted({m for m in match_ids if not m.startswith(self.match_prefixes)})

    def check(self, match_ids: Iterable[str]) -> None:
        """Raise ForbiddenMatch, naming them, when any match is outside this producer's scope."""
        if outside := self.forbidden(match_ids):
            raise ForbiddenMatch(self.provider, outside)


Tokens = Mapping[str, Producer]


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
    from an editor would lock every producer out); an entry that is not a valid token or scope is left out.
    """

    def __init__(
        self, environ: Mapping[str, str], secrets_client: Callable[[], Any], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._environ, self._secrets_client, self._clock = environ, secrets_client, clock
        self._cached: tuple[Tokens, float] | None = None

    def accepted(self) -> Tokens:
        local = {**parse_tokens(self._environ.get("INGEST_TOKENS")), **_unscoped(self._environ.get("INGEST_TOKEN"))}
        if local:
            return local
        arn = self._environ.get("INGEST_TOKEN_SECRET_ARN")
        if not arn:
            return {}
        if self._cached is None or self._clock() >= self._cached[1]:
            tokens: dict[str, Producer] = {}
            for stage in reversed(SECRET_STAGES):  # the current version wins a token both name
                tokens |= parse_tokens(self._secret(arn, stage))
            self._cached = (tokens, self._clock() + SECRET_TTL_SECONDS)
        return self._cached[0]

    def _secret(self, arn: str, stage: str) -> str | None:
        client = self._secrets_client()
        try:
            return str(client.get_secret_value(SecretId=arn, VersionStage=stage)["SecretString"])
        except client.exceptions.ResourceNotFoundException:
            return None  # a secret never rotated has no previous version


def parse_tokens(value: str | None) -> dict[str, Producer]:
    """A stored value: one bare token (the unscoped ``default`` producer) or the JSON map of scoped ones;
    an invalid entry is logged and left out, so one typo refuses one producer, not all of them."""
    tokens, problems = read_tokens(value)
    for problem in problems:
        logger.error("producer tokens: an entry is left out", extra={"problem": problem})
    return tokens


def read_tokens(value: str | None) -> tuple[dict[str, Producer], list[str]]:
    """The tokens ``value`` holds, and what is wrong with the entries it leaves out (never a token)."""
    text = (value or "").strip()
    if not text.startswith("{"):
        return _unscoped(text), []
    try:
        entries = jsontext.loads(text)
    except ValueError:
        return {}, ["not valid JSON: no token is accepted"]
    tokens, problems = {}, []
    for number, (token, scope) in enumerate(entries.items(), start=1):
        producer = _producer(scope)
        if _token(token) is None:
            problems.append(f"entry {number}: a token is 1-{MAX_TOKEN_CHARS} printable ASCII characters, no space")
        elif producer is None:
            problems.append(
                f'entry {number}: the scope is {{"provider": {PROVIDER.pattern}, "match_prefixes"?: '
                f"[up to {MAX_PREFIXES} strings of 1-64 characters]}}"
            )
        else:
            tokens[token] = producer
    return tokens, problems


def _unscoped(value: str | None) -> dict[str, Producer]:
    token = _token(value)
    return {token: Producer(DEFAULT_PROVIDER)} if token else {}


def _producer(scope: Any) -> Producer | None:
    if not isinstance(scope, dict) or set(scope) - {"provider", "match_prefixes"}:
        return None
    provider, prefixes = scope.get("provider"), scope.get("match_prefixes")
    if not isinstance(provider, str) or not PROVIDER.fullmatch(provider):
        return None
    if prefixes is None:
        return Producer(provider)
    valid = isinstance(prefixes, list) and len(prefixes) <= MAX_PREFIXES
    if not valid or not all(isinstance(p, str) and 1 <= len(p) <= 64 for p in prefixes):
        return None
    return Producer(provider, tuple(prefixes))


def _token(value: str | None) -> str | None:
    token = (value or "").strip()
    return token if _TOKEN.fullmatch(token) else None


def fingerprint(token: str) -> str:
    """What a connection keeps of the token it showed: enough to tell whether it is still accepted."""
    return hashlib.sha256(token.encode()).hexdigest()


def still_accepted(token_fingerprint: str, accepted: Callable[[], Tokens]) -> Producer | None:
    """The producer behind ``token_fingerprint`` if its token is accepted now (rotated out: None)."""
    found = None
    for token, producer in accepted().items():
        if hmac.compare_digest(token_fingerprint, fingerprint(token)):
            found = producer
    return found


def identify(header: str | None, accepted: Callable[[], Tokens]) -> tuple[str, Producer]:
    """The token the header carries and its producer, or Unauthorized. The tokens are read only once a
    header names a bearer token, so a subscriber's connect costs no secret fetch."""
    scheme, _, shown = (header or "").partition(" ")
    provided = shown.strip()
    if scheme.lower() != "bearer" or not provided:
        raise Unauthorized()
    found = None
    # compare with every candidate, so timing says nothing about which one, or how much of it, matched
    for token, producer in accepted().items():
        if hmac.compare_digest(provided.encode(errors="replace"), token.encode()):
            found = (token, producer)
    if found is None:
        raise Unauthorized()
    return found
