"""GitOps Lab's microservice: a Flask app built by ``create_app`` and served by gunicorn (see docs/app.md)."""

from app.factory import VERSION as __version__
from app.factory import create_app
from app.settings import Config, ConfigError, TestConfig

__all__ = ["Config", "ConfigError", "TestConfig", "__version__", "create_app"]
