"""concviz: see Python concurrency happen (threads, processes, asyncio), measured live."""

__version__ = "0.1.0"
