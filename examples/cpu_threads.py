"""Four threads doing arithmetic: under the GIL they take turns, never run at once.

    concviz trace -- python examples/cpu_threads.py [SECONDS]

Expect four task lanes that alternate (one runs while the others wait for the GIL), a GIL lane
handing over every few milliseconds, and a parallelism near 1 however many cores there are. On
a free-threaded build (python3.13t) the same threads run at once.
"""

import sys
import threading
import time

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0


def crunch(name: str) -> None:
    end = time.perf_counter() + SECONDS
    total = 0
    while time.perf_counter() < end:
        for i in range(10_000):
            total += i * i
    print(f"{name}: done", flush=True)


if __name__ == "__main__":
    threads = [threading.Thread(target=crunch, args=(f"cruncher-{i}",), name=f"cruncher-{i}")
               for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
