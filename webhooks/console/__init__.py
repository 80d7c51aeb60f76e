"""The console: what an admin sees of the bridge, server-rendered under ``/console``.

Pages: sync health (failed jobs as cards, replay and discard), throughput, API budgets,
the mapping in force (with a preview), campaigns. Sign-in is Salesforce's own
(``signin.py``: OAuth 2.0 web-server flow with PKCE), for holders of the bridge's admin
permission set; every POST carries the session's CSRF token (``csrf.py``).
"""
