"""London neighbourhood policing planner."""

__version__ = "0.1.0"
