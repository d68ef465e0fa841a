"""The interface every platform adapter implements, in the spirit of ThreatExchange's ``SignalType``: a
stable ``name`` (stored with each connected account, so it never changes), what the platform can do
(:class:`Capabilities`), the OAuth steps, a resumable upload, an idempotent create, the post's status, a
take-down, and :meth:`PlatformAdapter.classify`, which turns any answer of the platform into one of five
outcomes the job state machine acts on."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from enum import StrEnum
from pathlib import Path

import httpx


class Outcome(StrEnum):
    RETRY_LATER = "retry-later"  # 429, 5xx, connection refused before anything was done: queue again
    AUTH = "auth"  # a recognised auth error (invalid_grant, revoked consent): the account needs reconnecting
    REJECTED = "rejected"  # the platform said no, with its reason: final
    UNKNOWN = "unknown-outcome"  # a timeout on an irreversible call: resolve by reading state, never re-post
    FAILED = "failed"  # anything else, with the platform's own text: final


class AdapterError(Exception):
    """A platform call that did not succeed, already classified. ``retry_after`` is seconds (Retry-After);
    ``rate_limited``: the platform asked us to slow down (429, a quota), which re-queues without counting
    as a failed attempt."""

    def __init__(
        self,
        outcome: Outcome,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
        rate_limited: bool = False,
    ) -> None:
        super().__init__(message)
        self.outcome, self.retry_after, self.status = Outcome(outcome), retry_after, status
        self.rate_limited = rate_limited

    def __str__(self) -> str:
        return self.args[0]


@dataclass(frozen=True)
class Capabilities:
    direct_post: bool  # False: share-with-user-confirmation only
    scheduled: bool = False
    max_bytes: int | None = None
    max_seconds: float | None = None
    aspect_ratios: tuple[str, ...] = ()  # e.g. ("9:16", "16:9"); empty: any
    caption_max_chars: int = 5000
    tags_max: int | None = None
    certificate_field: str = ""  # where the licence certificate travels ("" : the platform has none)
    idempotent_create: bool = False  # an Idempotency-Key makes a replayed create return the first post


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str = ""
    expires_in: float | None = None
    scope: str = ""

    @classmethod
    def from_response(cls, body: dict) -> Tokens:
        """An OAuth 2.0 token response (RFC 6749 §5.1); a missing refresh token is "" (keep the old one)."""
        expires = body.get("expires_in")
        return cls(access_token=body["access_token"], refresh_token=body.get("refresh_token") or "",
                   expires_in=float(expires) if expires is not None else None, scope=body.get("scope", ""))  # fmt: skip


@dataclass(frozen=True)
class Connection:
    """What an adapter needs to act for one connected account."""

    platform_url: str
    client_id: str
    client_secret: str
    redirect_uri: str
    access_token: str = ""


@dataclass(frozen=True)
class PostResult:
    post_id: str
    status: str  # published | processing | needs_confirmation | rejected | taken_down
    reason: str = ""
    url: str = ""
    replay: bool = False
    raw: dict = field(default_factory=dict)


@dataclass(frozen=True)
class UploadState:
    upload_id: str
    video_id: str = ""  # set once the platform has the whole file
    part_size: int = 0
    parts_done: int = 0  # parts 1..parts_done were accepted: a resumed upload sends the rest


class PlatformAdapter(abc.ABC):
    """Built with the one injected ``httpx.Client`` (``cls(http)``): every request to the platform goes
    through it, so tests and deployments choose the transport."""

    name: str  # stable: a storage key
    scope: str = ""  # scopes asked for when connecting

    @abc.abstractmethod
    def discover(self, platform_url: str) -> dict:
        """What the platform publishes about itself (at least ``name``, its platform name)."""

    @abc.abstractmethod
    def capabilities(self, platform_url: str) -> Capabilities: ...

    @abc.abstractmethod
    def authorization_url(
        self, conn: Connection, *, state: str, code_challenge: str, scope: str | None = None
    ) -> str: ...

    @abc.abstractmethod
    def exchange_code(self, conn: Connection, code: str, code_verifier: str) -> Tokens: ...

    @abc.abstractmethod
    def refresh(self, conn: Connection, refresh_token: str) -> Tokens: ...

    @abc.abstractmethod
    def upload(
        self,
        conn: Connection,
        clip: Path,
        *,
        resume: UploadState | None = None,
        progress: Callable[[int, int], None] | None = None,
        checkpoint: Callable[[UploadState], None] | None = None,
    ) -> UploadState:
        """Send the file in parts; ``resume`` continues an earlier upload after its last accepted part (or
        starts over when the platform no longer has it); ``checkpoint`` is called when the platform gives an
        upload id and after every accepted part, so a worker that dies mid-upload resumes where it was."""

    @abc.abstractmethod
    def create_post(
        self, conn: Connection, upload: UploadState, *, caption: str, certificate: str, idempotency_key: str
    ) -> PostResult: ...

    @abc.abstractmethod
    def post_status(self, conn: Connection, post_id: str) -> PostResult: ...

    @abc.abstractmethod
    def take_down(self, conn: Connection, post_id: str, reason: str) -> PostResult: ...

    @abc.abstractmethod
    def classify(self, error: BaseException, *, irreversible: bool = False) -> AdapterError:
        """Map an exception raised while talking to the platform (an HTTP answer, a timeout, a refused
        connection) to an :class:`AdapterError` with one :class:`Outcome`; ``irreversible`` when the call
        may have made something (a post) that must not be made twice. Every adapter passes
        ``tests/distribute/test_adapter_contract.py``."""


ADAPTERS: dict[str, type[PlatformAdapter]] = {}


def register(cls: type[PlatformAdapter]) -> type[PlatformAdapter]:
    if cls.name in ADAPTERS and ADAPTERS[cls.name] is not cls:
        raise ValueError(f"two adapters named {cls.name!r}")
    ADAPTERS[cls.name] = cls
    return cls


# -- what every HTTP platform's answers have in common ------------------------------------------------


def response_detail(r: httpx.Response) -> str:
    """The platform's own words for an error answer (OAuth's error_description, hutong's detail, or text)."""
    try:
        body = r.json()
    except ValueError:
        return r.text[:500].strip() or r.reason_phrase
    if isinstance(body, dict):
        text = body.get("error_description") or body.get("detail") or body.get("error") or body
        return str(text)[:500]
    return str(body)[:500]


def retry_after(r: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent or unreadable."""
    value = r.headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    if value:
        from datetime import UTC, datetime

        try:
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError):
            return None
    return None


def transport_outcome(
    error: BaseException, *, irreversible: bool, platform: str, call: str, made: str
) -> AdapterError | None:
    """The part of :meth:`PlatformAdapter.classify` every HTTP platform shares: unreachable → retry later;
    no answer → retry later, or outcome unknown on an irreversible ``call`` (``made``: what may now exist);
    429 → retry later with Retry-After; 5xx → retry later, except a gateway's 502/504 on an irreversible call
    → unknown. None: the adapter decides (auth, refusals, its own codes)."""
    name = error.__class__.__name__
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
        return AdapterError(Outcome.RETRY_LATER, f"{platform} cannot be reached ({name})")
    if isinstance(error, httpx.TimeoutException | httpx.RemoteProtocolError | httpx.ReadError):
        if irreversible:
            return AdapterError(Outcome.UNKNOWN, f"no answer to {call} ({name}): {made} may or may not exist")
        return AdapterError(Outcome.RETRY_LATER, f"no answer from {platform} ({name})")
    if isinstance(error, httpx.HTTPStatusError):
        r = error.response
        code, detail = r.status_code, response_detail(r)
        if code == 429:
            return AdapterError(
                Outcome.RETRY_LATER,
                f"rate limited (429): {detail}",
                retry_after=retry_after(r),
                rate_limited=True,
            )
        if code >= 500:
            if irreversible and code in (502, 504):
                return AdapterError(Outcome.UNKNOWN, f"{code} from a gateway on {call}: {detail}")
            return AdapterError(
                Outcome.RETRY_LATER, f"{platform} failed ({code}): {detail}", retry_after=retry_after(r)
            )
    return None
