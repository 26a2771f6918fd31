"""Skill bundles by digest: receive (PutBundle), verify, unpack read-only, cache."""

from nexflow_executor.bundles.receive import MAX_CHUNK_BYTES, receive_bundle
from nexflow_executor.bundles.store import BundleStore, check_digest

__all__ = ["MAX_CHUNK_BYTES", "BundleStore", "check_digest", "receive_bundle"]
