"""API keys: named, scoped, and stored only as SHA-256 digests, several at once so that they can
be rotated. ``CORKBOARD_API_KEYS`` holds entries ``name:scope+scope:sha256hex`` separated by
commas or whitespace; ``corkboard api-key new`` makes a key and its entry."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

ENTRY = re.compile(
    r"(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]{0,63}):(?P<scopes>[a-z]+(?:\+[a-z]+)*):(?P<digest>[0-9a-f]{64})"
)


class Scope(StrEnum):
    """What a key lets its caller do."""

    READ = "read"  # pages and the utility weights
    EVENTS = "events"  # POST /v1/events
    ADMIN = "admin"  # change weights and arms, reload; see error and readiness details


@dataclass(frozen=True)
class ApiKey:
    """A configured key: its name, its scopes and the SHA-256 hex digest of the key itself."""

    name: str
    scopes: frozenset[Scope]
    digest: str

    def entry(self) -> str:
        """The key's ``name:scope+scope:digest`` entry of ``CORKBOARD_API_KEYS``."""
        return f"{self.name}:{'+'.join(sorted(self.scopes))}:{self.digest}"


def parse_api_keys(text: str) -> tuple[ApiKey, ...]:
    """The keys of ``CORKBOARD_API_KEYS``; ValueError naming the first malformed entry, an unknown
    scope or a name given twice."""
    keys: dict[str, ApiKey] = {}
    for number, entry in enumerate(re.split(r"[\s,]+", text.strip()) if text.strip() else [], start=1):
        match = ENTRY.fullmatch(entry)
        if match is None:
            raise ValueError(f"CORKBOARD_API_KEYS entry {number} is not name:scope+scope:sha256hex")
        name, scopes = match["name"], match["scopes"].split("+")
        unknown = sorted(set(scopes) - set(Scope))
        if unknown:
            raise ValueError(
                f"CORKBOARD_API_KEYS entry {name!r}: unknown scope {unknown[0]!r}; known: {', '.join(Scope)}"
            )
        if name in keys:
            raise ValueError(f"CORKBOARD_API_KEYS names {name!r} twice")
        keys[name] = ApiKey(name, frozenset(Scope(scope) for scope in scopes), match["digest"])
    return tuple(keys.values())


def key_digest(key: str) -> str:
    """The SHA-256 hex digest stored for ``key``."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key(name: str, scopes: Iterable[Scope]) -> tuple[str, ApiKey]:
    """A fresh random key (shown once, never stored) and its configured form."""
    key = secrets.token_urlsafe(32)
    configured = ApiKey(name, frozenset(scopes), key_digest(key))
    if ENTRY.fullmatch(configured.entry()) is None:
        raise ValueError(f"key name {name!r}: use letters, digits, '_', '.' and '-' (64 at most)")
    return key, configured


def find_key(keys: Iterable[ApiKey], presented: str) -> ApiKey | None:
    """The configured key ``presented`` is, if any; every digest is compared in constant time and
    none is skipped, so the answer's timing says nothing about the keys."""
    digest = key_digest(presented)
    found = None
    for key in keys:
        if hmac.compare_digest(key.digest, digest):
            found = key
    return found
