"""An asyncio crawler against a local server: one thread, many requests in flight at once.

    concviz trace -- python examples/asyncio_crawler.py [SECONDS]

The server is a child process (an asyncio server that answers each page after 30-80 ms); the
crawler keeps 50 requests in flight on one event loop. Expect two processes, the crawler's
single thread mostly sleeping (I/O) in epoll_wait with short runs, and no GIL contention: the
concurrency comes from overlapping waits, not from threads.
"""

import asyncio
import multiprocessing
import random
import sys
import time

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
IN_FLIGHT = 50


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readline()
    await asyncio.sleep(random.uniform(0.03, 0.08))
    body = b"<html>a page</html>"
    writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    await writer.drain()
    writer.close()


def serve(port_out) -> None:
    async def main() -> None:
        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port_out.send(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(main())


async def fetch(port: int, path: str) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.0\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    return len(data)


async def crawl(port: int) -> int:
    pages = 0
    end = time.perf_counter() + SECONDS
    while time.perf_counter() < end:
        sizes = await asyncio.gather(*(fetch(port, f"/page/{pages + i}") for i in range(IN_FLIGHT)))
        pages += len(sizes)
    return pages


if __name__ == "__main__":
    here, there = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(there,), name="server", daemon=True)
    server.start()
    port = here.recv()
    pages = asyncio.run(crawl(port))
    server.terminate()
    server.join()
    print(f"crawled {pages} pages", flush=True)
