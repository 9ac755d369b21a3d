"""The HQ database engine: the SQLite and PostgreSQL backends, named migrations and the
database thread. The SQL of each capability lives in its own folder (``cloud/members/``,
``cloud/reports/``, …); ``cloud/database.py`` composes their operations into ``CloudDb``."""
