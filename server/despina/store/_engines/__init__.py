"""The store's two database engines behind the one ``Engine``/``Tx`` protocol.

``sqlite*`` is the embedded engine (one file, writers take turns); ``postgres*`` is the shared
engine (a connection pool, a chunk cache, an advisory lock per write). Each has its schema and
migrations in ``*_schema``. The store picks one by the location's form (``despina.store._store``).
"""
