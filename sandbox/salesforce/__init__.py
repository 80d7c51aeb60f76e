"""A local emulator of the Salesforce REST API for the demo, tests and outside checkers.

``SalesforceSandbox(client_id=, username=, public_key_pem=, client_secret=None,
api_limit=15000)`` gives ``.app`` (ASGI; serve it with ``sandbox.server.serve(app,
tls=...)``, since simple-salesforce only speaks HTTPS) and ``.faults``, plus ``seed``,
``records``, ``api_calls``, ``reset_counters``, ``expire_sessions`` and ``require_fields``;
an admin's ``edit`` and ``delete``, who wrote last (``last_writer``, ``writes_by_client``)
and ``.outbound``, the org's Outbound Message rules (``outbound.py``).
"""

from sandbox.salesforce.app import SalesforceSandbox
from sandbox.salesforce.errors import SalesforceError

__all__ = ["SalesforceError", "SalesforceSandbox"]
