"""The operators' console: pages, templates and static files."""
