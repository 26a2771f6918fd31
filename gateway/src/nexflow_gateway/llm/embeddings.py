"""Text to vectors through litellm (`litellm.aembedding`), for ranking a user's notes.

An `Embedder` never raises: a failed call (no server, an error answer, a malformed vector)
is logged by its kind and gives `None`, and the caller goes on with full-text search alone.
"""

from __future__ import annotations

import math

import litellm
import structlog

from ..settings import LLMSettings

log = structlog.get_logger(__name__)

MAX_DIMENSIONS = 8192


class Embedder:
    def __init__(self, settings: LLMSettings) -> None:
        if not settings.embedding_model:
            raise ValueError("no embedding model configured")
        self.model = settings.embedding_model
        self._base = settings.embedding_api_base or settings.api_base
        key = settings.embedding_api_key or settings.api_key
        self._key = key.get_secret_value() if key else None
        self._timeout = settings.embedding_timeout_s
        self.min_similarity = settings.embedding_min_similarity

    @classmethod
    def configured(cls, settings: LLMSettings) -> Embedder | None:
        return cls(settings) if settings.embedding_model else None

    async def vector(self, text: str) -> list[float] | None:
        """`text`'s vector, or None when the model could not give one."""
        try:
            response = await litellm.aembedding(
                model=self.model,
                input=[text],
                api_base=self._base,
                api_key=self._key,
                timeout=self._timeout,
                num_retries=0,
            )
            raw = response.data[0]
            values = raw["embedding"] if isinstance(raw, dict) else raw.embedding
            found = [float(v) for v in values][: MAX_DIMENSIONS + 1]
        except Exception as exc:  # litellm maps provider failures to its own tree
            status = getattr(exc, "status_code", None)
            log.warning("embedding.failed", error=type(exc).__name__, status=status)
            return None
        if not found or len(found) > MAX_DIMENSIONS or not all(map(math.isfinite, found)):
            log.warning("embedding.failed", error="malformed vector", dimensions=len(found))
            return None
        return found
