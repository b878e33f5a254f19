"""One default TLS context per test process for the HTTP clients the apps build.

Every app the suite builds opens httpx clients with the default verification (its model and
web clients), and httpx builds each one a context that parses the CA bundle again, about 15
ms: two per test. A context of the default settings is shared here (httpx's documentation
recommends sharing one; the clients do not change it). Any other verification (a test's own
CA, ``verify=False``, a client certificate) is built as before.
"""

import os
import ssl
from typing import Any

from httpx import _config
from httpx._transports import default

_create_ssl_context = _config.create_ssl_context
_shared: dict[tuple[str | None, str | None], ssl.SSLContext] = {}


def _context(verify: Any = True, cert: Any = None, trust_env: bool = True) -> ssl.SSLContext:
    if verify is not True or cert is not None or not trust_env:
        return _create_ssl_context(verify=verify, cert=cert, trust_env=trust_env)
    # The CA bundle the default reads depends on these when set.
    key = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    if key not in _shared:
        _shared[key] = _create_ssl_context(verify=True, cert=None, trust_env=True)
    return _shared[key]


def install() -> None:
    default.create_ssl_context = _context
