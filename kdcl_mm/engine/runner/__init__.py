from .checked_runner import CheckedRunner

__all__ = ['CheckedRunner']
