"""Messages from Salesforce to followers, within WeChat's rules.

:mod:`.rules` decides without I/O (requests, recipients, skips and their reasons);
:mod:`.audience` finds the recipients; :mod:`.quotas` and :mod:`.windows` keep WeChat's
per-follower allowances in Redis; :mod:`.sender` sends, recording each send in
:mod:`.sent_log`; :mod:`.run` runs one request end to end and writes
:mod:`.records`; :mod:`.reports` applies WeChat's job-finish reports; :mod:`.dispatch`
turns ticked requests into send jobs; :mod:`.requests` makes a request and reports on
one for the command line; :mod:`.outcomes` reads requests and their recipients'
outcomes, for that report and the console (it imports no client library).
"""
