"""The way back: Salesforce changes → WeChat.

Changes are noticed by :mod:`.poll` (the clock) or by Outbound Messages (the web app);
both become change jobs, which :mod:`.changes` runs: it re-reads the records and hands
each :mod:`.watches` entry its own. The remark and tag sync is :mod:`.sync` (planned by
:mod:`.plan`, without I/O); :mod:`.counters` counts what it did.
"""
