"""QR codes for Salesforce records: :mod:`.codes` makes one (or finds the one made),
:mod:`.registry` keeps them in Salesforce, :mod:`.requests` makes those admins ask for
by ticking a flag, :mod:`.rules` holds the pure rules (scenes, lifetimes, the limit) and
:mod:`.key_prefixes` tells a record Id's object.
"""
