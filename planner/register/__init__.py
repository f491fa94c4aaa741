"""The plan register: who may change what, and the database of decisions.

- :mod:`~planner.register.access`: roles, sign-in modes and the permission check;
- :mod:`~planner.register.store`: agreed priorities, overrides and saved plans (SQLAlchemy).
"""
