"""``python -m llm_client_sync``: see cli.py."""

import sys

from .cli import main

sys.exit(main())
