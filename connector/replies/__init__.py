"""Campaign auto-replies: :mod:`.model` (what a reply is, which event gets which),
:mod:`.cache` (Redis, and the marks that answer each event once), :mod:`.campaigns`
(read from Salesforce into the cache), :mod:`.passive` (the callback's answer, from the
cache) and :mod:`.sends` (the worker's customer-service message when the callback had
none cached).
"""
