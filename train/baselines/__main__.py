"""``python -m train.baselines``: see :func:`train.baselines.run.main`."""

import sys

from train.baselines.run import main

sys.exit(main())
