"""The HTTP API: routes, error handlers and request-size guard."""
