"""A local S3 API for the object-store tests: moto's server on 127.0.0.1, requests counted.

:class:`S3Server` serves moto's S3 backend (the WSGI app moto's own ``ThreadedMotoServer``
serves) with werkzeug on a free port of 127.0.0.1, in a thread of the test process, behind
:class:`CountingApp`, a middleware that counts every request by method and path on the
server side: a test can say how many times each chunk object was read, whichever process
(a writer in a subprocess, DataLoader workers) sent the request. :func:`dummy_credentials`
names the variables that point botocore at the server with fake keys and nothing else (no
profile, no config file, no instance metadata), so no test can reach real AWS.

moto and s3fs are test extras (``pip install -e .[dev]``); the fixtures in conftest.py skip
the tests that use them when either is missing. This module imports neither at import time.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

REGION = "us-east-1"
KEY = "xgeo-test-key"
SECRET = "xgeo-test-secret"


class CountingApp:
    """A WSGI middleware counting requests as ``(method, path)`` (path: ``/bucket/key``)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.counts: Counter[tuple[str, str]] = Counter()
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = unquote(environ.get("PATH_INFO", ""))
        method = environ["REQUEST_METHOD"]
        _, _, key = path.lstrip("/").partition("/")
        if method == "GET" and not key:
            method = "LIST"  # GET /bucket?list-type=2...: a bucket's listing, no object read
        with self.lock:
            self.counts[(method, path)] += 1
        return self.app(environ, start_response)

    def reset(self) -> None:
        with self.lock:
            self.counts.clear()

    def object_gets(self, prefix: str = "", method: str = "GET") -> Counter[str]:
        """``method`` (GET, HEAD...) requests per object path (``bucket/key``) under ``prefix``."""
        with self.lock:
            return Counter({
                path.lstrip("/"): n for (m, path), n in self.counts.items()
                if m == method and path.lstrip("/").startswith(prefix)
            })


class S3Server:
    """moto's S3 API on ``127.0.0.1:<free port>``; :meth:`stop` shuts it down."""

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        class Quiet(MotoRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:  # a line a request
                pass

        self.app = CountingApp(DomainDispatcherApplication(create_backend_app))
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=Quiet)
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def storage_options(self, **extra: Any) -> dict[str, Any]:
        """fsspec/s3fs options for this server, with the test credentials."""
        return {"endpoint_url": self.endpoint, "key": KEY, "secret": SECRET, **extra}

    def new_bucket(self) -> str:
        """A fresh, empty bucket's name (created through s3fs, as users would)."""
        import s3fs

        name = f"xgeo-{uuid.uuid4().hex[:12]}"
        s3fs.S3FileSystem(**self.storage_options()).mkdir(name)
        return name


def dummy_credentials(endpoint: str) -> dict[str, str]:
    """Environment for botocore: the test keys, ``endpoint`` for every request, no metadata."""
    return {
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,  # botocore >= 1.31: even a client given no endpoint
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/nonexistent/xgeo-test-aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/xgeo-test-aws-credentials",
    }


#: Variables removed from the environment of every S3 test (a real profile or session).
UNSET = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
         "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
         "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
