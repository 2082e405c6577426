"""The Extractor protocol and lookup: by name through the ``cardwright.extractors`` entry points,
or by an importable factory, ``package.module:attr``, for plug-ins installed without one.

An extractor that calls a paid model also implements ``MeteredExtractor``: the same drafts with
the tokens they cost (``Metered``), and an estimate made without a call, for
``reextract --dry-run``. Callers check with ``isinstance``; plain extractors change nothing.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

from cardwright.schema.cards import CardDraft, TopicSnapshot
from cardwright.schema.errors import ConfigurationError
from cardwright.schema.usage import TokenUsage

ENTRY_POINT_GROUP = "cardwright.extractors"


@runtime_checkable
class Extractor(Protocol):
    """Derives a topic's complete card set from its live messages.

    ``extractor_id`` is ``name@version``; it is part of the source hash, so a new version makes a
    replay re-derive cards while the same version makes it a no-op.

    An extractor may also set ``cpu_bound = True`` (optional, read with ``getattr``): a member
    then runs one extraction at a time whatever ``CARDWRIGHT_EXTRACT_CONCURRENCY`` says, since
    more would only share one core; one that waits (on a model endpoint, say) leaves it unset.
    """

    @property
    def extractor_id(self) -> str: ...

    def extract(self, snapshot: TopicSnapshot) -> list[CardDraft]: ...


@dataclass(frozen=True, slots=True)
class Metered:
    """An extraction's drafts and the tokens it spent to make them."""

    drafts: list[CardDraft]
    usage: TokenUsage


@runtime_checkable
class MeteredExtractor(Extractor, Protocol):
    """An extractor that spends tokens: it says how many, and can estimate them beforehand.

    A failed attempt raises ``ExtractionFailed`` with ``usage`` set to what it spent."""

    def extract_metered(self, snapshot: TopicSnapshot) -> Metered: ...

    def estimate(self, snapshot: TopicSnapshot) -> TokenUsage:
        """The tokens one extraction of ``snapshot`` would spend, without calling the model;
        ``completion_tokens`` is the most an answer may use."""
        ...


def available_extractors() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


def load_extractor(spec: str) -> Extractor:
    """Instantiate the extractor registered under ``name``, or ``name@version``, or made by the
    factory ``package.module:attr``.

    A version pins the extractor's id (and so the source hash) to that version, for factories
    that accept a ``version`` keyword; re-deriving every topic is then one replay away. A factory
    spec takes no version: the factory names its own ``extractor_id``. A version may itself hold
    a colon (``llm@1:gpt-4o-mini``, the llm extractor's id): an ``@`` before the first colon
    marks an entry point spec, so any extractor id is also a spec that loads that extractor.
    """
    if ":" in spec and "@" not in spec.partition(":")[0]:
        return _from_factory(spec)
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


def _from_factory(spec: str) -> Extractor:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr or "@" in spec:
        raise ConfigurationError(
            f"extractor {spec!r}: a factory is named as package.module:attr (no @version)"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"extractor {spec!r}: cannot import {module_name!r} ({exc}); is it on PYTHONPATH?"
        ) from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConfigurationError(f"extractor {spec!r}: {module_name} has no callable {attr!r}")
    extractor = factory()
    if not isinstance(extractor, Extractor):
        raise ConfigurationError(
            f"extractor {spec!r}: {attr}() returned {type(extractor).__name__}, not an Extractor"
            " (it needs an extractor_id and an extract(snapshot) method)"
        )
    return extractor
