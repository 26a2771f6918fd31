"""Errors raised by the policy layer.

PolicyError
├── PolicyUnavailable   the engine cannot decide now (callers fail closed)
└── PolicyLoadError     a policy directory could not be read or compiled
"""

from __future__ import annotations


class PolicyError(Exception):
    """Base class of every policy-layer error."""


class PolicyUnavailable(PolicyError):
    """The engine could not evaluate the policy; the call must not run."""


class PolicyLoadError(PolicyError):
    """A policy directory could not be read or compiled."""
