"""``concviz serve``: the app in a browser, through textual-serve.

    concviz serve [--host 127.0.0.1] [--port 8000] [--theme NAME] [-- concviz options]

Each browser tab that opens the page gets a concviz of its own: textual-serve starts one process
per websocket. What textual-serve (1.1) does with that process by itself: when the tab's
websocket closes, it sends the app a "quit" message and waits for the app's output to end, with
no time limit and no kill; and a server killed outright leaves its apps running, their input
gone. So here:

* a closed tab's app that has not exited within ``QUIT_GRACE_S`` of the quit is sent SIGTERM,
  then SIGKILL, and is always waited for;
* a server stopped with ctrl+c or SIGTERM closes every open app that way before it exits;
* each app asks Linux to SIGKILL it when the server dies (``PR_SET_PDEATHSIG``), so a server
  killed outright takes its apps along;
* an app's experiment and workers end with the app (the experiment watches its parent).

textual-serve is an optional extra (``pip install 'concviz[serve]'``); it is imported only here.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import ipaddress
import logging
import os
import shlex
import signal
import socket
import sys
from functools import lru_cache
from typing import Any, Sequence

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
QUIT_GRACE_S = 3.0  # a quitting app first cancels its run and waits for the experiment's end
TERM_GRACE_S = 2.0
INSTALL_HINT = "concviz serve needs textual-serve: pip install 'concviz[serve]'"
SERVER_PID_ENV = "CONCVIZ_SERVE_PID"  # tells an app which process must outlive it
PR_SET_PDEATHSIG = 1


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def app_command(app_args: Sequence[str]) -> str:
    """The shell command textual-serve runs for each tab: concviz, through this module's
    ``--app`` entry (which ties the app's life to the server's). ``exec``, so that the process
    textual-serve holds is the app itself, not a shell around it."""
    return "exec " + shlex.join([sys.executable, "-m", "concviz.serve", "--app", "--", *app_args])


def die_with_server() -> None:
    """In an app: be SIGKILLed when the server process dies, and leave now if it already has.

    The death signal fires when the parent's *thread* that started us ends; textual-serve starts
    apps from its event loop, the server's main thread, which lives as long as the server.
    """
    expected = os.environ.get(SERVER_PID_ENV)
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if expected and os.getppid() != int(expected):  # the server died before we could ask
        os._exit(1)


async def end_process(process: asyncio.subprocess.Process, grace_s: float = QUIT_GRACE_S) -> None:
    """Wait up to ``grace_s`` for ``process`` to exit, then SIGTERM it, then SIGKILL it; return
    once it has been waited for."""
    for action, wait_s in ((None, grace_s), ("terminate", TERM_GRACE_S), ("kill", None)):
        if process.returncode is not None:
            return
        if action is not None:
            try:
                getattr(process, action)()
            except ProcessLookupError:
                pass
        try:
            await asyncio.wait_for(process.wait(), wait_s)
            return
        except asyncio.TimeoutError:
            continue


@lru_cache(maxsize=None)
def server_class() -> type:
    """textual-serve's Server with the app lifecycle above (built on first use, so that this
    module imports without textual-serve)."""
    from aiohttp import web
    from textual_serve.app_service import AppService
    from textual_serve.server import Server, to_int

    class ConcvizAppService(AppService):
        """One tab's app; its stop ends the process whatever the app does."""

        _ending: asyncio.Task | None = None

        async def stop(self) -> None:
            # textual-serve stops a service twice (two finally blocks) and the server's shutdown
            # may stop it too: one ending, awaited by all
            if self._ending is None:
                self._ending = asyncio.ensure_future(self._end())
            await asyncio.shield(self._ending)

        async def _end(self) -> None:
            process = self._process
            if self._task is not None:
                try:  # the polite way first: "quit", and the app's output ends as it exits
                    await asyncio.wait_for(asyncio.shield(super().stop()), QUIT_GRACE_S)
                except asyncio.TimeoutError:
                    pass
            if process is not None:
                await end_process(process, grace_s=0.5)

    class ConcvizServer(Server):
        """Serves concviz, one app per tab, closing each app when its tab or the server goes."""

        def __init__(self, command: str, host: str, port: int, public_url: str | None = None) -> None:
            super().__init__(command, host=host, port=port, title="concviz", public_url=public_url)
            self.services: dict[Any, web.WebSocketResponse] = {}

        def initialize_logging(self) -> None:
            super().initialize_logging()
            # one line per page load and websocket is noise in a speaker's terminal
            logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

        async def on_startup(self, app: web.Application) -> None:
            print(listening_line(self.host, self.port, self.public_url), flush=True)
            if not is_loopback(self.host):
                print(f"warning: listening on {self.host}, beyond this machine: anyone who can reach it "
                      "can open concviz and start runs here", flush=True)

        async def on_shutdown(self, app: web.Application) -> None:
            services = list(self.services.items())
            await asyncio.gather(*(service.stop() for service, _ in services), return_exceptions=True)
            await asyncio.gather(*(ws.close() for _, ws in services), return_exceptions=True)

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            """textual-serve's own handler, with the service above, tracked while it lives."""
            websocket = web.WebSocketResponse(heartbeat=15)
            width = to_int(request.query.get("width", "80"), 80)
            height = to_int(request.query.get("height", "24"), 24)
            service = None
            try:
                await websocket.prepare(request)
                service = ConcvizAppService(
                    self.command, write_bytes=websocket.send_bytes, write_str=websocket.send_str,
                    close=websocket.close, download_manager=self.download_manager, debug=self.debug)
                self.services[service] = websocket
                await service.start(width, height)
                await self._process_messages(websocket, service)
            except asyncio.CancelledError:
                await websocket.close()
            except Exception as error:  # noqa: BLE001 - as textual-serve: log it, end the tab
                logging.getLogger("textual-serve").exception(error)
            finally:
                if service is not None:
                    await service.stop()
                    self.services.pop(service, None)
            return websocket

    return ConcvizServer


def listening_line(host: str, port: int, public_url: str) -> str:
    where = "this machine only" if is_loopback(host) else f"bound to {host}"
    return f"concviz serve: open {public_url} in a browser ({where}; each tab gets its own concviz). ctrl+c stops."


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, app_args: Sequence[str] = (),
          public_url: str | None = None) -> int:
    """Serve concviz (started with ``app_args``) on ``host``:``port`` until ctrl+c or SIGTERM.

    Returns the exit status: 0 after a stop, 1 when textual-serve is missing or the address
    cannot be listened on (each said in one line on stderr).
    """
    try:
        server_cls = server_class()
    except ImportError:
        print(INSTALL_HINT, file=sys.stderr)
        return 1
    if public_url is None and host in ("0.0.0.0", "::", ""):
        # the page tells the browser where the websocket is: a wildcard address is no place
        public_url = f"http://{socket.getfqdn()}:{port}"
    os.environ[SERVER_PID_ENV] = str(os.getpid())
    server = server_cls(app_command(app_args), host=host, port=port, public_url=public_url)
    try:
        server.serve()
    except OSError as exc:
        why = os.strerror(exc.errno) if exc.errno else str(exc)
        print(f"concviz serve: cannot listen on {host}:{port}: {why}", file=sys.stderr)
        return 1
    return 0


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a whole number, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1 to 65535, got {port}")
    return port


def main(argv: Sequence[str] | None = None) -> int:
    """``concviz serve [--host H] [--port P] [--public-url URL] [--theme NAME] [-- concviz options]``
    (also ``python -m concviz.serve``). The options after ``--`` are what each tab's app is
    given: the TUI's, or a screen's (``talk``, ``replay``, ``stack``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    own, app_args = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    if own[:1] == ["--app"]:  # one tab's app, started by the server
        die_with_server()
        from concviz.cli import main as concviz_main

        return concviz_main(app_args)
    from concviz.cli_args import Parser, UsageError, add_theme_flag
    from concviz.cli_screens import check_screen_args
    from concviz.engine.spec import SpecError

    parser = Parser(prog="concviz serve", description="Serve concviz in a browser: one app per tab.",
                    epilog="concviz options after -- are given to each tab's app, e.g. -- -m processes -n 8, "
                           "or -- talk my-talk.toml")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST}: "
                        "this machine only)")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--public-url", help="the address browsers use to reach the server, when it "
                        "is not http://HOST:PORT (behind a proxy, or on 0.0.0.0)")
    add_theme_flag(parser)
    try:
        args = parser.parse_args(own)
        if args.theme:
            app_args = [*app_args, "--theme", args.theme]
        # the app's options are checked once here, not found wrong in every tab
        check_screen_args(app_args)
    except (UsageError, SpecError) as exc:
        print(f"concviz serve: error: {exc}", file=sys.stderr)
        return 2
    return serve(args.host, args.port, app_args, public_url=args.public_url)


if __name__ == "__main__":
    sys.exit(main())
