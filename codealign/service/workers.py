"""Run workers: placeholder until the run engine lands (see the full module on this branch)."""

from __future__ import annotations


class Workers:
    def __init__(self, settings, db) -> None:
        self.settings, self.db = settings, db

    def recover(self) -> None:
        pass

    def shutdown(self) -> None:
        pass
