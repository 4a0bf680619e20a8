"""The FastAPI app: its factory, error rendering, routes and the operators' console."""

from .app import create_app

__all__ = ["create_app"]
