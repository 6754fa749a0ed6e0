"""Reaching a Dask cluster: a scheduler's address checked, or a private local cluster started whose workers ignore Ctrl-C.

The local cluster is not open to the machine's other users: its scheduler, workers and
nannies listen on the loopback interface with mutual TLS (``security=True``: Dask's
``Security.temporary()``, a key and self-signed certificate made in memory for this one
cluster and handed to the worker processes through their start-up pipe, never a file or
a command line).  A client that does not hold that certificate cannot even complete the
handshake, so it can neither submit work nor read data; plain TCP is refused.

Dask is optional (``pip install -e ".[dask]"``): it is imported only when a
function here is called, and :func:`require_dask` says how to install it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from symbp.errors import UserError

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["INSTALL_HINT", "LOCAL_CLUSTER", "connect", "current_client", "require_dask"]

#: What ``pip`` needs for the cluster stage; named in the message when Dask is missing.
INSTALL_HINT = 'pip install -e ".[dask]"'
#: The local cluster :func:`connect` starts: two single-threaded worker processes on the loopback interface,
#: speaking mutual TLS with a certificate made for this cluster alone (see the module's docstring).
LOCAL_CLUSTER = {"n_workers": 2, "threads_per_worker": 1, "processes": True, "host": "127.0.0.1", "dashboard_address": None, "security": True}

_ADDRESS = re.compile(r"(?:tcp|tls)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})")
_ADDRESS_FORMS = (
    "use tcp://HOST:PORT or tls://HOST:PORT for a running scheduler (e.g. tls://127.0.0.1:8786, with Dask's TLS "
    "configuration), or no address to start a private local cluster on 127.0.0.1"
)


def require_dask() -> None:
    """Import dask and distributed, or say how to install them.

    Raises:
        UserError: Either is missing; the message names :data:`INSTALL_HINT`.

    Example:
        >>> require_dask()          # doctest: +SKIP
    """
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as err:
        raise UserError(f"training on Dask needs dask and distributed ({err}); install them with {INSTALL_HINT}") from err


def connect(address: str | None, *, timeout: float = 10.0) -> Client:
    """A Dask client: a new local cluster, or a running scheduler.

    Args:
        address: None starts a local cluster of two single-threaded worker
            processes on 127.0.0.1, without a dashboard, reachable only with its
            own TLS certificate; ``tcp://HOST:PORT`` or ``tls://HOST:PORT`` connects
            to a scheduler already running there (with Dask's configured security).
        timeout: seconds to wait for a running scheduler to answer.

    Returns:
        A ``distributed.Client``.  Close it when done (``client.close()`` or
        ``with connect(...) as client``); that also stops a local cluster it started.

    Raises:
        UserError: the address has another form, the scheduler cannot be
        reached, or Dask is not installed.

    Example:
        >>> with connect(None) as client:                # doctest: +SKIP
        ...     print(len(client.scheduler_info()["workers"]))
        2
    """
    if address is not None and (not isinstance(address, str) or not _valid_address(address)):
        raise UserError(f"invalid Dask scheduler address {address!r}: {_ADDRESS_FORMS}")
    require_dask()
    from distributed import Client

    if address is None:
        # Client(**kwargs) starts a LocalCluster that it owns and closes with itself.
        client = Client(**LOCAL_CLUSTER)
        # Ctrl-C reaches the whole foreground process group, local workers included; they
        # would shut down and leave the step hanging.  Interrupting is the client's business
        # (the CLI stops between two steps), so the workers, restarted ones too, ignore it.
        client.register_plugin(_ignore_interrupts_plugin(), name="symbp-ignore-sigint")
        return client
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError(
            f"cannot reach the Dask scheduler at {address} ({reason}); start one there "
            "('dask scheduler'), or give no address to start a local cluster"
        ) from err


def current_client() -> Client:
    """The client of this process or task, as ``distributed.get_client`` finds it.

    Returns:
        The client.

    Raises:
        UserError: There is none.

    Example:
        >>> with connect(None) as client:                # doctest: +SKIP
        ...     assert current_client() is client
    """
    from distributed import get_client

    try:
        return get_client()
    except ValueError as err:
        raise UserError("no Dask client: pass client=connect(...) (symbp.cluster.connect)") from err


def _valid_address(address: str) -> bool:
    match = _ADDRESS.fullmatch(address)
    return bool(match) and 0 < int(match.group(2)) < 65536


def _ignore_interrupts_plugin() -> Any:
    """A worker plugin that makes the worker process ignore SIGINT."""
    # The class is made here so that distributed is imported only when a cluster is started.
    from distributed.diagnostics.plugin import WorkerPlugin

    class IgnoreInterrupts(WorkerPlugin):
        idempotent = True

        def setup(self, worker: Any) -> None:
            _ignore_sigint()

    return IgnoreInterrupts()


def _ignore_sigint() -> bool:
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return False  # only the main thread may set handlers (a worker running in-process)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return True
