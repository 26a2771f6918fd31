"""The HTTP API: routes, error handlers, the request-size guard and the strict JSON edge."""

from .strict_json import decode, parse_lenient

__all__ = ["decode", "parse_lenient"]
