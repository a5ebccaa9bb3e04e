"""The built-in probes and checks. Importing this package registers them; the order of
the imports below is the order in which the checks are shown.
"""

# isort: off
from preflight.checks import reachability  # noqa: F401
from preflight.checks import proxy  # noqa: F401
from preflight.checks import auth  # noqa: F401
from preflight.checks import ray_tls  # noqa: F401
from preflight.checks import client  # noqa: F401
from preflight.checks import client_packages  # noqa: F401
from preflight.checks import server  # noqa: F401
from preflight.checks import dashboard  # noqa: F401
from preflight.checks import jobs  # noqa: F401
from preflight.checks import kuberay  # noqa: F401
from preflight.checks import notebook_image  # noqa: F401
from preflight.checks import autoscaler  # noqa: F401
from preflight.checks import capacity  # noqa: F401
from preflight.checks import e2e  # noqa: F401
from preflight.checks import parity  # noqa: F401
from preflight.checks import script  # noqa: F401
from preflight.checks import runtime_env  # noqa: F401
from preflight.checks import scale  # noqa: F401
from preflight.checks import tune  # noqa: F401
# isort: on
