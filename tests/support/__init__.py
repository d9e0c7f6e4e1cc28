"""Helpers shared by test modules in several folders, imported as ``support.<module>``.

pytest puts ``tests/`` on ``sys.path`` (``pythonpath`` in pyproject.toml), so no test edits
``sys.path`` or loads a helper by file name. Helpers used by one folder's tests only stay there.
"""
