from .kdcl_accuracy import KDCLAccuracy

__all__ = ['KDCLAccuracy']
