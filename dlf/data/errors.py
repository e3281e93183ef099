"""The errors every loader raises: one class for a bad file, one for a missing one."""


class DataFormatError(ValueError):
    """A data file is missing or its contents are not what the loader expects."""


class MissingDataError(DataFormatError, FileNotFoundError):
    """The path or one of the files the loader needs does not exist."""
