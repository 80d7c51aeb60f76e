"""The Salesforce sandbox's Outbound Messages behave as an org's: sent when a rule's
field changes, batched, and resent (the same notifications) until acknowledged; every
write has an author."""

from __future__ import annotations

import threading

from fastapi import FastAPI, Request
from fastapi.responses import Response

from sandbox.salesforce import SalesforceSandbox
from sandbox.salesforce.authors import Actor
from sandbox.server import serve
from webhooks.outbound_soap import ACK, CONTENT_TYPE, fault, parse


def listener(nacks: int):
    """An endpoint that refuses the first ``nacks`` messages, then acknowledges."""
    app, bodies, lock = FastAPI(), [], threading.Lock()

    @app.post("/om")
    async def receive(request: Request) -> Response:
        body = await request.body()
        with lock:
            bodies.append(body)
            refuse = len(bodies) <= nacks
        if refuse:
            return Response(fault("busy"), status_code=500, media_type=CONTENT_TYPE)
        return Response(ACK, media_type=CONTENT_TYPE)

    return app, bodies


def test_a_rule_sends_changed_records_and_resends_until_acknowledged():
    sf = SalesforceSandbox(client_id="c", username="u", public_key_pem="unused")
    app, bodies = listener(nacks=2)
    server = serve(app)
    try:
        sf.outbound.add_rule("Lead", ["Description"], f"{server.url}/om")
        lead = sf.seed("Lead", LastName="Zhang", Company="Acme", Description="new")  # create
        assert sf.outbound.wait_idle(10)
        sf.edit("Lead", lead, {"Phone": "123"})  # not a rule field: no message
        with sf.store.authors.acting_as(Actor(sf.user_id, "WeChatBridge")):
            sf.store.update("Lead", lead, {"Description": "by the bridge"})  # any author
        assert sf.outbound.wait_idle(10)
    finally:
        sf.outbound.close()
        server.stop()
    first, second = sf.outbound.deliveries()
    assert (first.acked, first.attempts, first.record_ids) == (True, 3, [lead])
    assert bodies[0] == bodies[1] == bodies[2]  # a resend is the same message
    message = parse(bodies[0])
    assert message.org_id == sf.org_id
    assert [(n.object, n.record_id) for n in message.notifications] == [("Lead", lead)]
    assert (second.acked, second.attempts) == (True, 1)
    assert b"<sf:Description>by the bridge</sf:Description>" in bodies[3]
    assert parse(bodies[3]).notifications[0].id != message.notifications[0].id
    assert sf.last_writer(lead) == Actor(sf.user_id, "WeChatBridge")
    assert sf.writes_by_client() == {None: 2, "WeChatBridge": 1}  # the admin: seed, edit
