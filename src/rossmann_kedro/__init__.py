"""rossmann-kedro
"""

import os as _os

# OpenMP threads (XGBoost, scikit-learn) busy-spin while waiting by default; on a shared 2-core
# machine that made a 2-thread XGBoost fit ~10x slower than 1 thread. Passive waiting must be
# chosen before libgomp loads, hence here, at package import. An explicit setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1"
