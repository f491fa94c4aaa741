"""The plan: whole-officer allocation by need, commanders' overrides, borough priorities.

- :mod:`~planner.plan.apportion`: the numeric apportionment core (numpy only);
- :mod:`~planner.plan.allocation`: the ward adapter, equity, overrides, scenario comparison;
- :mod:`~planner.plan.priorities`: borough local priorities and the high-harm basket.
"""
