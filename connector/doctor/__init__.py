"""``connector doctor``: a preflight an admin runs before going live.

Each check answers one question about the configured org and accounts (can the bridge
log in, does the org serve its API version, does the mapping fit the org, may the
integration user write what the mapping writes, which rules will fire, how much of the
daily API allowance is left, does WeChat accept the credentials and this server's IP,
do the public endpoints answer as WeChat and Salesforce expect) and says ok, or what to
fix. Nothing is written to either side.
"""
