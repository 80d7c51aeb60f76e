"""The account's custom menu, published from the mapping file's ``menu:`` section:
:mod:`.plan` (pure) compares the file's menus with WeChat's and decides the calls;
:mod:`.publish` reads WeChat's menu, resolves the conditional menus' tags and makes them.
"""
