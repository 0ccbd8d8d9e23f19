"""monitor: a news-monitoring scraper and alert daemon.

Data flows one way: schedule -> discover -> fetch -> extract -> store/dedupe -> match -> alert.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Article", "Config", "Monitor", "MonitorError", "__version__", "extract", "load_config"]

from .config import Config, load_config
from .errors import MonitorError
from .extract import extract  # the function; see below
from .models import Article

# `monitor.extract` is the function, not the subpackage of the same name (use `from monitor.extract
# import ...` or importlib for that). It is imported here, not lazily: importing the subpackage sets
# `monitor.extract` to it, so a lazy function would turn into the module once anything imported it.

if TYPE_CHECKING:
    from .app import Monitor


def __getattr__(name: str) -> Any:
    # the app pulls in httpx and SQLite: imported when first asked for
    if name == "Monitor":
        from .app import Monitor

        return Monitor
    raise AttributeError(name)
