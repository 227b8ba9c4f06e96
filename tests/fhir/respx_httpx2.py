"""respx routes answering the service's httpx2 clients.

The service fetches with httpx2; respx 0.23 mocks httpx only (httpx2 support is
lundberg/respx#317, not released). While :func:`serve_httpx2` is active, every httpx2 client
using the default transport sends its requests to a respx router instead of the network: the
request is mirrored as an ``httpx.Request`` for respx to match and record, respx's
``httpx.Response`` is streamed back as an ``httpx2.Response``, and a transport error raised by
a route (``httpx.ConnectError``, ``httpx.ReadTimeout``, …) is raised as httpx2's error of the
same name, as a real transport would raise it. The tests keep writing respx routes as before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from unittest import mock

import httpx
import httpx2
import respx


class _Body(httpx2.AsyncByteStream):
    """A streamed respx answer, read as the client consumes it (the size cap test needs it)."""

    def __init__(self, answer: httpx.Response) -> None:
        self._answer = answer

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._answer.aiter_raw():
            yield chunk

    async def aclose(self) -> None:
        await self._answer.aclose()


def _mirrored_error(error: httpx.TransportError, request: httpx2.Request) -> Exception:
    kind = getattr(httpx2, type(error).__name__, None)
    if isinstance(kind, type) and issubclass(kind, httpx2.TransportError):
        return kind(str(error), request=request)
    raise TypeError(f"no httpx2 counterpart of {type(error).__name__}") from error


@contextmanager
def serve_httpx2(router: respx.MockRouter) -> Iterator[respx.MockRouter]:
    """Answer every default-transport httpx2 request from ``router`` (a ``respx.mock``)."""

    async def handle_async_request(
        transport: httpx2.AsyncHTTPTransport, request: httpx2.Request
    ) -> httpx2.Response:
        mirrored = httpx.Request(
            request.method,
            str(request.url),
            headers=list(request.headers.raw),
            content=await request.aread(),
        )
        try:
            answer = await router.async_handler(mirrored)
        except httpx.TransportError as error:
            raise _mirrored_error(error, request) from error
        headers = list(answer.headers.raw)
        if answer.is_stream_consumed:  # respx reads an answer given as bytes or JSON at once
            return httpx2.Response(
                answer.status_code, headers=headers, content=answer.content, request=request
            )
        return httpx2.Response(
            answer.status_code, headers=headers, stream=_Body(answer), request=request
        )

    with mock.patch.object(httpx2.AsyncHTTPTransport, "handle_async_request", handle_async_request):
        yield router
