"""The one error every source raises when its input cannot be read."""


class SourceError(Exception):
    """A source (a file, a folder, a named dataset) cannot be read; the message names it."""
