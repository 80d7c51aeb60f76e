"""Inbound: WeChat events → Salesforce records, a batch at a time.

The journey of one scan after the callback queued it: :mod:`.batch` runs a batch of
events (profiles, plans from the mapping, acts noted, writes applied); :mod:`.apply`
finds the persons and campaign facts and executes the writes that :mod:`.writes`,
:mod:`.persons` and :mod:`.members` plan without I/O (:mod:`.conflicts` decides which
values an update may overwrite; :mod:`.statuses` adds the campaign statuses members
need, beside other writers). :mod:`.touches` counts campaign scans in Redis and
:mod:`.stats` reports them; :mod:`.lengths` gives ``fit`` the org's field lengths;
:mod:`.preview` shows the writes of one push without making them.
"""
