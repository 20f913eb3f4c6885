"""``python -m tests.soak``: what ``scripts/soak`` runs."""

import sys

from .harness import main

sys.exit(main())
