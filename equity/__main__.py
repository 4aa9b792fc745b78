"""``python -m equity`` runs the ``equity`` command."""

import sys

from equity.cli import main

sys.exit(main())
