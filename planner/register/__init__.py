"""The plan register: who may change what, and the database of decisions.

- :mod:`~planner.register.access`: roles, sign-in modes and the permission check;
- :mod:`~planner.register.identity`: who a session's user is (sign-in, access.toml);
- :mod:`~planner.register.store`: agreed priorities, overrides and saved plans (SQLAlchemy),
  the one way in (:class:`~planner.register.store.PlanRegister`), built from
  :mod:`~planner.register.database` (connection and transactions),
  :mod:`~planner.register.schema` (tables and versions), :mod:`~planner.register.records`
  (checks of every record), :mod:`~planner.register.plans` (saved plans),
  :mod:`~planner.register.backup` (the JSON backup file) and
  :mod:`~planner.register.imported` (a backup's rows checked as live writes are).
"""
