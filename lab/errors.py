"""Errors the lab raises. Each message says what to do about it."""


class LabError(RuntimeError):
    """The lab could not do what was asked; the message says why and what to do."""


class EngineUnavailable(LabError):
    """No Docker engine could be had."""
