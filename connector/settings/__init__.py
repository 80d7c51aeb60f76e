"""The bridge's configuration: typed settings from Heroku config vars
(:mod:`connector.settings.config`) and the Official Accounts they describe
(:mod:`connector.settings.accounts`). Built lazily by :func:`get_settings`, never at import.
"""

from connector.settings.accounts import ACCOUNT_KEYS, AccountVars, WeChatAccount
from connector.settings.config import (
    DEFAULT_MAPPING,
    EXPECTS,
    SalesforceSettings,
    Settings,
    SettingsError,
    get_settings,
    load_settings,
)

__all__ = [
    "ACCOUNT_KEYS",
    "DEFAULT_MAPPING",
    "EXPECTS",
    "AccountVars",
    "SalesforceSettings",
    "Settings",
    "SettingsError",
    "WeChatAccount",
    "get_settings",
    "load_settings",
]
