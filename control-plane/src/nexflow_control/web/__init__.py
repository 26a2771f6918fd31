"""The browser UI served by the control plane: login, the audit log viewer, approvals.

    sessions (accounts.sessions)  passwords and sessions in the database
    login_limits                  failed-login throttling per name and per client
    auth_routes                   /auth/login, /auth/logout, /auth/session
    pages                         /ui/... (one static page app) and its assets
    tail                          ws /ws/logs: the live tail
    export                        /api/v1/audit/export: JSONL and CSV

The UI is static files (no inline script, a strict Content-Security-Policy) that call
the same JSON API a token holder uses, authenticated by the session cookie instead of
a bearer token; unsafe requests also carry the session's CSRF token.
"""
