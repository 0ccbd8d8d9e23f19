"""monitor: a news-monitoring scraper and alert daemon.

Data flows one way: schedule -> discover -> fetch -> extract -> store/dedupe -> match -> alert.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Article", "Config", "MonitorError", "__version__", "extract", "load_config"]

from .config import Config, load_config
from .errors import MonitorError
from .models import Article

if TYPE_CHECKING:
    from .extract import extract


def __getattr__(name: str) -> Any:
    # extraction pulls in selectolax; import it when first asked for
    if name == "extract":
        from .extract import extract

        return extract
    raise AttributeError(name)
