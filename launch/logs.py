"""Log hygiene shared by the launchers."""

import logging


class _DropOrbaxInfo(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or "orbax" not in record.pathname


def quiet_orbax() -> None:
    """orbax logs ~20 INFO lines per checkpoint save, burying progress lines; keep its warnings."""
    for handler in logging.getLogger("absl").handlers + logging.getLogger().handlers:
        handler.addFilter(_DropOrbaxInfo())
    logging.getLogger("absl").addFilter(_DropOrbaxInfo())
