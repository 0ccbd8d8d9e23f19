"""config.yaml -> frozen, validated models.

The file is read once with PyYAML's composer so every key keeps its line; pydantic validates it;
any error becomes a :class:`~monitor.errors.ConfigError` naming the file, the line and the key.
``${VAR}`` in any string is replaced from the environment (``VAR_FILE`` naming a file works too,
for Docker secrets); a missing variable is an error. Defaults live on the models
(:mod:`.models`); reading and checking the file is :mod:`.load`.
"""

from __future__ import annotations

from .load import load_config, parse_config, resolve_config_path
from .models import (
    CHANNEL_TYPES,
    SOURCE_KINDS,
    WEEKDAYS,
    AlertsConfig,
    AppriseChannel,
    ChannelConfig,
    Config,
    DigestConfig,
    EmailChannel,
    FetchConfig,
    QuietHours,
    ServerConfig,
    SiteRules,
    SourceConfig,
    TopicConfig,
    WebhookChannel,
    parse_listen,
)

__all__ = [
    "CHANNEL_TYPES",
    "SOURCE_KINDS",
    "WEEKDAYS",
    "AlertsConfig",
    "AppriseChannel",
    "ChannelConfig",
    "Config",
    "DigestConfig",
    "EmailChannel",
    "FetchConfig",
    "QuietHours",
    "ServerConfig",
    "SiteRules",
    "SourceConfig",
    "TopicConfig",
    "WebhookChannel",
    "load_config",
    "parse_config",
    "parse_listen",
    "resolve_config_path",
]
