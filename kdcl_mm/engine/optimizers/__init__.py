from .merged_groups_constructor import MergedGroupsOptimWrapperConstructor

__all__ = ['MergedGroupsOptimWrapperConstructor']
