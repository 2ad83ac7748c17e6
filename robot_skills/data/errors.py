"""The one error a dataset that cannot be used raises: it names the file or field at fault and
what was expected, and the loader never skips past it."""


class DatasetError(ValueError):
    """A dataset directory is missing, truncated, corrupt or does not match the config."""
