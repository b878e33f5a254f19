"""One default TLS context per test process for the HTTP clients the apps build.

Every app the suite builds opens httpx clients with the default verification (its model and
web clients), and httpx builds each one a context that parses the CA bundle again, about 15
ms: two per test. A context of the default verification is shared here (httpx's documentation
recommends sharing one; the clients do not change it). Any other verification (a test's own
CA, ``verify=False``, a client certificate) is built as before.
"""

import os
import ssl
from typing import Any

from httpx import _config
from httpx._transports import default

_create_ssl_context = _config.create_ssl_context
_shared: dict[tuple[bool, str | None, str | None], ssl.SSLContext] = {}


def _context(verify: Any = True, cert: Any = None, trust_env: bool = True) -> ssl.SSLContext:
    if verify is not True or cert is not None:
        return _create_ssl_context(verify=verify, cert=cert, trust_env=trust_env)
    # Trusting the environment, the CA bundle read depends on these when set.
    env = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    key = (trust_env, *env) if trust_env else (False, None, None)
    if key not in _shared:
        _shared[key] = _create_ssl_context(verify=True, cert=None, trust_env=trust_env)
    return _shared[key]


def install() -> None:
    default.create_ssl_context = _context
