"""The plan: whole-officer allocation by need, commanders' overrides, borough priorities.

- :mod:`~planner.plan.apportion`: the numeric apportionment API (numpy only);
- :mod:`~planner.plan.checks`: checks of its arguments (need, pool, bounds, feasibility);
- :mod:`~planner.plan.kernels`: its solvers (divisor methods by heap and jump start, Hamilton);
- :mod:`~planner.plan.allocation`: the ward adapter, recomputation and the allocation tables;
- :mod:`~planner.plan.equity`: the equity measures of an allocation;
- :mod:`~planner.plan.overrides`: commanders' overrides;
- :mod:`~planner.plan.measures`: borough rates and trends shared by the evidence and the basket;
- :mod:`~planner.plan.evidence`: the evidence for each borough's candidate priorities;
- :mod:`~planner.plan.basket`: the high-harm basket;
- :mod:`~planner.plan.priorities`: the proposed priorities and one borough's view.
"""
