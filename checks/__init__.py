"""The built-in checks: one check per module, loaded by `pgadvisor.registry` (the same loader as `--checks-dir`).

A package only so that tests and import-linter can name the modules; the loader skips files starting with `_`.
"""
