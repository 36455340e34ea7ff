"""Imported only if a preset loader imports a module a config names (it must not)."""

IMPORTED = True


class Boom:
    pass
