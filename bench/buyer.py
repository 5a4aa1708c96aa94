"""A buyer's endpoint for the delivery benchmark: asyncio, so it costs little CPU per request.

`python -m bench.buyer PORT DELAY` answers every POST or PUT with 200 and a small JSON body
after DELAY seconds (on HTTP/1.1 keep-alive connections, as a buyer's server would), and
records each request's `webhook-id` with the wall-clock times it was received and answered.
`GET /records` answers them as JSON, `[[webhook-id, received, answered], ...]`; `GET /count`
answers how many there are. It runs in a process of its own, beside the worker it measures.
"""

from __future__ import annotations

import asyncio
import sys
import time

import orjson

ANSWER = b'{"status": "accepted"}'


class Buyer:
    """The requests received so far, and how to answer them."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.records: list[tuple[str, float, float]] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer the requests of one connection until the client closes it."""
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                received = time.time()
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length") or 0)
                if length:
                    await reader.readexactly(length)
                if method == "GET":
                    writer.write(self._get(path))
                    continue
                await asyncio.sleep(self.delay)
                answered = time.time()
                self.records.append((headers.get("webhook-id", ""), received, answered))
                writer.write(_response(ANSWER))
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def _get(self, path: str) -> bytes:
        if path == "/records":
            return _response(orjson.dumps(self.records))
        if path == "/count":
            return _response(orjson.dumps(len(self.records)))
        return _response(b'{"error": "not found"}', "404 Not Found")


def _response(body: bytes, status: str = "200 OK") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def main(port: int, delay: float) -> None:
    buyer = Buyer(delay)
    server = await asyncio.start_server(buyer.serve, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))
