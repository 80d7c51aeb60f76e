"""``python -m connector.cli``: what the ``connector`` script runs (child processes use it)."""

import sys

from connector.cli.main import main

sys.exit(main())
