"""``connector backfill``: an Official Account's existing followers into Salesforce.

:mod:`.run` pages WeChat's follower list, reads profiles 100 at a time, plans each
follower as the follow event the mapping already handles (:mod:`.followers`) and writes
them through the inbound feature's batch code, 200 records per sObject Collections call;
:mod:`.state` keeps the cursor, the page in progress and the counts in Redis, so a
killed backfill resumes where it stopped; :mod:`.progress` shows it.
"""
