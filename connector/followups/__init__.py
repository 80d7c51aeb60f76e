"""Automatic follow-ups: a message to a follower some time after an event (a menu click,
a keyword, a scan of a campaign's code, a follow), per the mapping's ``follow_ups:``.

:mod:`.rules` decides without I/O (which rules an event fires, ids, conditions, template
data); :mod:`.store` keeps each follow-up's state in Redis; :mod:`.schedule` is the
inbound worker's side (schedule through ``ctx.queues``, cancel on unfollow); :mod:`.send`
is the send job's (check, send within WeChat's windows, record like a message request).
"""
