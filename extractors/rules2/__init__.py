"""rules@2: the rules extractor rewritten for speed and recall (see extractor.py)."""

from cardwright.extractors.rules2.extractor import Rules2Extractor

__all__ = ["Rules2Extractor"]
