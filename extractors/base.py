"""The Extractor protocol and lookup by name through the ``cardwright.extractors`` entry points."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

from cardwright.errors import ConfigurationError
from cardwright.schema.cards import CardDraft, TopicSnapshot

ENTRY_POINT_GROUP = "cardwright.extractors"


@runtime_checkable
class Extractor(Protocol):
    """Derives a topic's complete card set from its live messages.

    ``extractor_id`` is ``name@version``; it is part of the source hash, so a new version makes a
    replay re-derive cards while the same version makes it a no-op.
    """

    @property
    def extractor_id(self) -> str: ...

    def extract(self, snapshot: TopicSnapshot) -> list[CardDraft]: ...


def available_extractors() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


def load_extractor(spec: str) -> Extractor:
    """Instantiate the extractor registered under ``name``, or ``name@version``.

    A version pins the extractor's id (and so the source hash) to that version, for factories
    that accept a ``version`` keyword; re-deriving every topic is then one replay away.
    """
    name, _, version = spec.partition("@")
    matches = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not matches:
        known = ", ".join(available_extractors()) or "none installed"
        raise ConfigurationError(f"unknown extractor {name!r} (known: {known})")
    factory = matches[0].load()
    extractor = factory(version=version) if version else factory()
    if not isinstance(extractor, Extractor):
        raise ConfigurationError(f"entry point {name!r} does not provide an Extractor")
    return extractor
