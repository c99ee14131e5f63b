"""A thread pool doing blocking I/O: the threads overlap their waits, and the GIL hardly matters.

    concviz trace -- python examples/thread_pool_io.py [SECONDS]

A local server (a thread of its own here) answers each request after 50 ms; eight pool threads
fetch from it with plain blocking sockets. Expect the pool threads mostly sleeping (I/O) in
recv, short runs between, and a wall time far below the sum of the waits.
"""

import socket
import socketserver
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
DELAY_S = 0.05


class SlowAnswer(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.recv(64)
        time.sleep(DELAY_S)
        self.request.sendall(b"done")


def fetch(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(b"hello")
        return conn.recv(64)


if __name__ == "__main__":
    socketserver.ThreadingTCPServer.daemon_threads = True
    socketserver.ThreadingTCPServer.request_queue_size = 64  # all 8 fetchers connect at once
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), SlowAnswer) as server:
        threading.Thread(target=server.serve_forever, name="server", daemon=True).start()
        port = server.server_address[1]
        fetched = 0
        end = time.perf_counter() + SECONDS
        with ThreadPoolExecutor(8, thread_name_prefix="fetcher") as pool:
            while time.perf_counter() < end:
                fetched += len(list(pool.map(fetch, [port] * 16)))
        server.shutdown()
    print(f"fetched {fetched} answers", flush=True)
