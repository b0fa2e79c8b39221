"""Test helpers shared by several test modules: one definition each (fixtures live in conftest.py)."""
